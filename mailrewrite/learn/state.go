package learn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
)

// Limits bound the state of one campaign, so that a hostile or enormous
// email cannot grow it: the store holds at most MaxEncodedSize(limits)
// bytes per campaign.
type Limits struct {
	// Slots: resources of earlier copies remembered (as fingerprints) to
	// compare later copies with.
	Slots int
	// Values: fingerprints kept per slot (the first ones in canonical
	// order: masked path segments, then query values, bare items,
	// fragment).
	Values int
	// Shapes: learned shapes.
	Shapes int
	// PartsPerShape: learned parts per shape.
	PartsPerShape int
	// Copies: copies observed; after that many the state no longer
	// changes (what varies per recipient has shown itself by then), so
	// later copies cost one cached read.
	Copies int
}

// DefaultLimits hold a long newsletter (a few hundred links and images).
var DefaultLimits = Limits{Slots: 384, Values: 12, Shapes: 48, PartsPerShape: 6, Copies: 24}

// Hard caps on Limits: the decoder never allocates beyond them.
const (
	capSlots  = 4096
	capValues = 64
	capShapes = 512
	capParts  = 32
	capCopies = 1 << 20
)

func (l Limits) validate() error {
	switch {
	case l.Slots < 1 || l.Slots > capSlots:
		return fmt.Errorf("learn limits: slots %d not in 1..%d", l.Slots, capSlots)
	case l.Values < 1 || l.Values > capValues:
		return fmt.Errorf("learn limits: values %d not in 1..%d", l.Values, capValues)
	case l.Shapes < 1 || l.Shapes > capShapes:
		return fmt.Errorf("learn limits: shapes %d not in 1..%d", l.Shapes, capShapes)
	case l.PartsPerShape < 1 || l.PartsPerShape > capParts:
		return fmt.Errorf("learn limits: parts per shape %d not in 1..%d", l.PartsPerShape, capParts)
	case l.Copies < 2 || l.Copies > capCopies:
		return fmt.Errorf("learn limits: copies %d not in 2..%d", l.Copies, capCopies)
	}
	return nil
}

// Fingerprint bits. A fingerprint is 30 bits of a keyed hash of a value
// of the first copy, enough to see that a later copy differs (a collision
// hides a difference once in 2^30 comparisons) and useless to recover or
// confirm the value without the key and the campaign's salt.
const (
	fpHash    = 1<<30 - 1
	fpIDLike  = 1 << 30 // the value looked like an identifier
	fpLearned = 1 << 31 // the part is learnt: no need to compare it again
)

// slot is one resource of an earlier copy: which template, which
// occurrence of it, and fingerprints of its values.
type slot struct {
	id  uint64 // keyed hash of the alignment key
	occ uint16 // this is occurrence occ of the key in its copy …
	n   uint16 // … which had n of them
	fps []uint32
}

// Shape is a learned URL shape of a campaign: URLs on Host whose path
// matches Path (literal segments equal, "*" and "*.ext" masks matching
// segments that mask alike) carry a per-recipient value in Parts.
type Shape struct {
	Host  string   `json:"host"`
	Path  []string `json:"path"`
	Parts []Part   `json:"parts"`
}

// State is what is known of one campaign. The zero value is not usable:
// make one with NewState or Decode.
type State struct {
	salt   [16]byte
	copies uint32
	// touched is the day (Unix days) the state was last written: a
	// frozen state is rewritten now and then so that its expiry follows
	// the campaign's last send.
	touched uint32
	slots   []slot
	shapes  []Shape
}

// NewState starts the state of a new campaign with a random salt.
func NewState(rand io.Reader) (*State, error) {
	st := &State{}
	if _, err := io.ReadFull(rand, st.salt[:]); err != nil {
		return nil, fmt.Errorf("read salt for a campaign's learning state: %w", err)
	}
	return st, nil
}

// Copies is the number of copies observed.
func (st *State) Copies() int { return int(st.copies) }

// Frozen: the state has seen its limit of copies and changes no more.
func (st *State) Frozen(l Limits) bool { return int(st.copies) >= l.Copies }

// Touched is the day (Unix days) the state was last written, as recorded
// by Touch and kept by Encode.
func (st *State) Touched() uint32 { return st.touched }

// Touch records that the state is written on day (Unix days), so that the
// store can rewrite a frozen state before it expires mid-campaign (R9).
func (st *State) Touch(day uint32) { st.touched = day }

// Learner compares copies with a campaign's state. It holds no state of
// its own and is safe for concurrent use on different States.
type Learner struct {
	secret []byte
	lim    Limits
}

// NewLearner returns a Learner. secret keys the fingerprints (pixelgate
// passes a key derived from its secrets); it may be empty, the per-
// campaign salt then being the only key.
func NewLearner(secret []byte, lim Limits) (*Learner, error) {
	if err := lim.validate(); err != nil {
		return nil, err
	}
	return &Learner{secret: slices.Clone(secret), lim: lim}, nil
}

// Limits returns the learner's limits.
func (l *Learner) Limits() Limits { return l.lim }

// item is one analysed resource of a copy.
type item struct {
	res  Resource
	sh   shape
	vals []value
	key  string
	occ  int // occurrence of key in the copy
	n    int // occurrences of key in the copy
}

// analyseCopy analyses the learnable resources of a copy and numbers the
// occurrences of each template, which is how copies are aligned: the k-th
// URL of a template in one copy is the k-th in the other, provided both
// have as many (a personalised block that adds one does not shift the
// others onto the wrong partner).
func analyseCopy(c []Resource) []item {
	items := make([]item, 0, len(c))
	count := map[string]int{}
	for _, r := range c {
		sh, vals, ok := analyse(r.URL)
		if !ok {
			continue
		}
		k := sh.key(r.Carrier)
		items = append(items, item{res: r, sh: sh, vals: vals, key: k, occ: count[k]})
		count[k]++
	}
	for i := range items {
		items[i].n = count[items[i].key]
	}
	return items
}

// hasher computes the keyed hashes of one observation: one HMAC reused,
// keyed with the learner's secret and salted with the campaign's salt.
type hasher struct {
	h    hash.Hash
	salt []byte
	buf  []byte
}

func (l *Learner) hasher(st *State) *hasher {
	return &hasher{h: hmac.New(sha256.New, l.secret), salt: st.salt[:], buf: make([]byte, 0, sha256.Size)}
}

func (h *hasher) sum(kind byte, a, b string) []byte {
	h.h.Reset()
	h.h.Write(h.salt)
	h.h.Write([]byte{kind})
	io.WriteString(h.h, a)
	h.h.Write([]byte{0})
	io.WriteString(h.h, b)
	h.buf = h.h.Sum(h.buf[:0])
	return h.buf
}

func (h *hasher) slotID(key string) uint64 {
	return binary.BigEndian.Uint64(h.sum('k', key, ""))
}

func (h *hasher) fingerprint(v value) uint32 {
	fp := binary.BigEndian.Uint32(h.sum('v', v.part.name(), v.v)) & fpHash
	if identifierLike(v.v) {
		fp |= fpIDLike
	}
	return fp
}

// Result says what one observation changed.
type Result struct {
	// Learned: parts newly learnt as per-recipient.
	Learned int
	// Changed: the state must be written back.
	Changed bool
	// Frozen: the state had seen its limit of copies; nothing was done.
	Frozen bool
}

type slotKey struct {
	id  uint64
	occ uint16
}

// Observe compares one copy (the original, before any rewrite) with what
// earlier copies looked like, learns the parts that differ and look like
// identifiers, and remembers resources not seen before.
//
// A part is learnt only when it differs between two copies: a value the
// same in every copy is campaign-level (utm_campaign, a list id, an
// image's content hash) and is never learnt.
func (l *Learner) Observe(st *State, c []Resource) Result {
	if st.Frozen(l.lim) {
		return Result{Frozen: true}
	}
	res := Result{Changed: true}
	st.copies++
	h := l.hasher(st)
	index := make(map[slotKey]int, len(st.slots))
	for i, s := range st.slots {
		index[slotKey{s.id, s.occ}] = i
	}
	items := analyseCopy(c)
	perLink := varyWithinCopy(items)
	for _, it := range items {
		if it.occ > 0xffff || it.n > 0xffff {
			continue
		}
		id := h.slotID(it.key)
		vals := it.vals
		if len(vals) > l.lim.Values {
			vals = vals[:l.lim.Values]
		}
		j, seen := index[slotKey{id, uint16(it.occ)}]
		if !seen {
			if len(st.slots) >= l.lim.Slots || len(vals) == 0 {
				continue
			}
			s := slot{id: id, occ: uint16(it.occ), n: uint16(it.n), fps: make([]uint32, len(vals))}
			for k, v := range vals {
				s.fps[k] = h.fingerprint(v)
			}
			index[slotKey{id, s.occ}] = len(st.slots)
			st.slots = append(st.slots, s)
			continue
		}
		s := &st.slots[j]
		if int(s.n) != it.n {
			continue
		}
		for k, v := range vals {
			if k >= len(s.fps) || s.fps[k]&fpLearned != 0 {
				continue
			}
			fp := h.fingerprint(v)
			if fp&fpHash == s.fps[k]&fpHash || fp&fpIDLike == 0 || s.fps[k]&fpIDLike == 0 {
				continue
			}
			p := v.part
			p.Payload = perLink[it.key][k] || len(v.v) >= payloadLen
			if st.learn(it.sh, p, l.lim) {
				s.fps[k] |= fpLearned
				res.Learned++
			}
		}
	}
	return res
}

// payloadLen: a value this long is more than an id (a UUID is 36 bytes,
// a hex SHA-256 64, but those are the same on every link of a copy): it
// encodes what the link points to as well.
const payloadLen = 48

// varyWithinCopy tells, per template and value index, whether the value
// differs between the URLs of that template within one copy.
func varyWithinCopy(items []item) map[string][]bool {
	first := map[string]int{}
	out := map[string][]bool{}
	for i, it := range items {
		j, seen := first[it.key]
		if !seen {
			first[it.key] = i
			out[it.key] = make([]bool, len(it.vals))
			continue
		}
		ref, vary := items[j].vals, out[it.key]
		for k := range vary {
			if k < len(it.vals) && it.vals[k].v != ref[k].v {
				vary[k] = true
			}
		}
	}
	return out
}

// learn adds part p to the shape of sh. It reports false when the limits
// leave no room.
func (st *State) learn(sh shape, p Part, lim Limits) bool {
	for i := range st.shapes {
		s := &st.shapes[i]
		if s.Host != sh.host || !slices.Equal(s.Path, sh.path) {
			continue
		}
		if i := slices.IndexFunc(s.Parts, p.same); i >= 0 {
			// Once seen to carry a payload, always treated so.
			s.Parts[i].Payload = s.Parts[i].Payload || p.Payload
			return true
		}
		if len(s.Parts) >= lim.PartsPerShape {
			return false
		}
		s.Parts = append(s.Parts, p)
		return true
	}
	if len(st.shapes) >= lim.Shapes {
		return false
	}
	st.shapes = append(st.shapes, Shape{Host: sh.host, Path: slices.Clone(sh.path), Parts: []Part{p}})
	return true
}

// errCorrupt marks a stored state that cannot be read.
var errCorrupt = errors.New("learn: corrupt state")

package learn

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// The stored form of a State is compact binary: it is read and written once
// per copy while a campaign is being learnt, and the store is shared.
//
//	"PGL" 0x01 | salt[16] | copies | touched | nslots | slot* | nshapes | shape*
//	slot  = id[8] | occ | n | nfps | fp[4]*
//	shape = str host | nseg | str seg* | nparts | (kind[1] | index | str key)*
//	        (kind's high bit: Payload)
//	str   = len | bytes
//
// Numbers are unsigned varints unless a size is given; fixed-size fields
// are big-endian. Decode checks every bound, so a corrupt or hostile value
// is an error, never a large allocation or a panic.
var magic = [4]byte{'P', 'G', 'L', 1}

const payloadBit = 0x80

// MaxEncodedSize is the largest encoding of a state within l: what the
// store holds at most per campaign.
func MaxEncodedSize(l Limits) int {
	const uv16, uv32 = 3, 5 // varint bytes of 16- and 32-bit numbers
	slot := 8 + uv16 + uv16 + 1 + 4*l.Values
	seg := 1 + literalMax - 1 // literal segments are shorter than literalMax; masks are at most "*.abcd"
	part := 1 + 1 + 1 + maxNameLen
	shape := 2 + maxHostLen + 1 + maxSegments*seg + 1 + l.PartsPerShape*part
	return len(magic) + 16 + uv32 + uv32 + uv16 + l.Slots*slot + uv16 + l.Shapes*shape
}

// Encode returns the stored form of st.
func (st *State) Encode() []byte {
	b := make([]byte, 0, 64+len(st.slots)*24+len(st.shapes)*64)
	b = append(b, magic[:]...)
	b = append(b, st.salt[:]...)
	b = binary.AppendUvarint(b, uint64(st.copies))
	b = binary.AppendUvarint(b, uint64(st.touched))
	b = binary.AppendUvarint(b, uint64(len(st.slots)))
	for _, s := range st.slots {
		b = binary.BigEndian.AppendUint64(b, s.id)
		b = binary.AppendUvarint(b, uint64(s.occ))
		b = binary.AppendUvarint(b, uint64(s.n))
		b = binary.AppendUvarint(b, uint64(len(s.fps)))
		for _, fp := range s.fps {
			b = binary.BigEndian.AppendUint32(b, fp)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(st.shapes)))
	for _, sh := range st.shapes {
		b = appendString(b, sh.Host)
		b = binary.AppendUvarint(b, uint64(len(sh.Path)))
		for _, seg := range sh.Path {
			b = appendString(b, seg)
		}
		b = binary.AppendUvarint(b, uint64(len(sh.Parts)))
		for _, p := range sh.Parts {
			k := byte(p.Kind)
			if p.Payload {
				k |= payloadBit
			}
			b = append(b, k)
			b = binary.AppendUvarint(b, uint64(p.Index))
			b = appendString(b, p.Key)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the stored form, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, a...))
	}
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint(max uint64, what string) int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad number for %s", what)
		return 0
	}
	d.b = d.b[n:]
	if v > max {
		d.fail("%s %d exceeds %d", what, v, max)
		return 0
	}
	return int(v)
}

func (d *decoder) str(max int, what string) string {
	n := d.uvarint(uint64(max), what+" length")
	return string(d.bytes(n))
}

// Decode reads a stored state, checking it against l. Any problem is an
// error wrapping a corrupt-state error; the caller then starts afresh.
func (l *Learner) Decode(b []byte) (*State, error) {
	d := &decoder{b: b}
	if m := d.bytes(len(magic)); d.err == nil && string(m) != string(magic[:]) {
		return nil, fmt.Errorf("%w: not a learning state of this version", errCorrupt)
	}
	st := &State{}
	copy(st.salt[:], d.bytes(len(st.salt)))
	st.copies = uint32(d.uvarint(capCopies, "copies"))
	st.touched = uint32(d.uvarint(1<<32-1, "day"))
	nslots := d.uvarint(uint64(l.lim.Slots), "slots")
	if d.err == nil && nslots > 0 {
		st.slots = make([]slot, 0, nslots)
	}
	for i := 0; i < nslots && d.err == nil; i++ {
		var s slot
		if id := d.bytes(8); id != nil {
			s.id = binary.BigEndian.Uint64(id)
		}
		s.occ = uint16(d.uvarint(0xffff, "occurrence"))
		s.n = uint16(d.uvarint(0xffff, "occurrences"))
		if d.err == nil && s.occ >= s.n {
			d.fail("slot %d: occurrence %d of %d", i, s.occ, s.n)
		}
		nfp := d.uvarint(uint64(l.lim.Values), "values")
		if d.err == nil && nfp == 0 {
			d.fail("slot %d has no values", i)
		}
		raw := d.bytes(4 * nfp)
		if d.err != nil {
			break
		}
		s.fps = make([]uint32, nfp)
		for k := range s.fps {
			s.fps[k] = binary.BigEndian.Uint32(raw[4*k:])
		}
		st.slots = append(st.slots, s)
	}
	nshapes := d.uvarint(uint64(l.lim.Shapes), "shapes")
	for i := 0; i < nshapes && d.err == nil; i++ {
		sh := d.shape(l.lim)
		if d.err != nil {
			break
		}
		for _, o := range st.shapes {
			if o.Host == sh.Host && slices.Equal(o.Path, sh.Path) {
				d.fail("shape %d repeats an earlier one", i)
			}
		}
		st.shapes = append(st.shapes, sh)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return st, nil
}

func (d *decoder) shape(lim Limits) Shape {
	var sh Shape
	sh.Host = d.str(maxHostLen, "host")
	if d.err == nil && (sh.Host == "" || sh.Host != strings.ToLower(sh.Host)) {
		d.fail("bad host")
	}
	nseg := d.uvarint(maxSegments, "segments")
	for i := 0; i < nseg && d.err == nil; i++ {
		seg := d.str(literalMax+4, "segment")
		if d.err == nil && !templateSegment(seg) {
			d.fail("segment %q is neither a word nor a mask", seg)
		}
		sh.Path = append(sh.Path, seg)
	}
	nparts := d.uvarint(uint64(lim.PartsPerShape), "parts")
	if d.err == nil && nparts == 0 {
		d.fail("shape without parts")
	}
	for i := 0; i < nparts && d.err == nil; i++ {
		var p Part
		if k := d.bytes(1); k != nil {
			p.Kind, p.Payload = PartKind(k[0]&^payloadBit), k[0]&payloadBit != 0
		}
		p.Index = d.uvarint(maxQuery, "index")
		p.Key = d.str(maxNameLen, "key")
		if d.err != nil {
			break
		}
		if !validPart(p, sh.Path) {
			d.fail("bad part %v", p)
		}
		for _, o := range sh.Parts {
			if o.same(p) {
				d.fail("part %v repeated", p)
			}
		}
		sh.Parts = append(sh.Parts, p)
	}
	return sh
}

// templateSegment: seg is what mask returns for some segment.
func templateSegment(seg string) bool {
	if m, masked := mask(seg); !masked {
		return m == seg
	}
	if seg == "*" {
		return true
	}
	ext, ok := strings.CutPrefix(seg, "*.")
	return ok && len(ext) <= 4 && isLetters(ext) && ext == strings.ToLower(ext)
}

func validPart(p Part, path []string) bool {
	switch p.Kind {
	case Segment:
		return p.Key == "" && p.Index < len(path) && strings.HasPrefix(path[p.Index], "*")
	case Bare:
		return p.Key == ""
	case Query:
		return p.Index == 0 && niceName(p.Key)
	case Fragment:
		return p.Index == 0 && p.Key == ""
	}
	return false
}

package proxy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMKeys are the signing keys per domain: DIR/<domain>.pem (RSA or
// Ed25519, PKCS#1 or PKCS#8), all with one selector. Reload swaps the whole
// set (SIGHUP).
type DKIMKeys struct {
	dir, selector string
	// SignAll signs every outbound message whose From domain has a key,
	// not only the ones whose signature the rewrite broke.
	SignAll bool
	keys    atomic.Pointer[map[string]crypto.Signer]
}

// LoadDKIMKeys reads the keys in dir; an empty dir means no keys.
func LoadDKIMKeys(dir, selector string, signAll bool) (*DKIMKeys, error) {
	k := &DKIMKeys{dir: dir, selector: selector, SignAll: signAll}
	if dir != "" && selector == "" {
		return nil, errors.New("DKIM keys need a selector (--dkim-selector)")
	}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads the key directory; on error the old keys stay.
func (k *DKIMKeys) Reload() error {
	m := map[string]crypto.Signer{}
	if k.dir != "" {
		entries, err := os.ReadDir(k.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read DKIM key directory: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".pem") {
				continue
			}
			signer, err := readSigner(filepath.Join(k.dir, name))
			if err != nil {
				return err
			}
			m[strings.ToLower(strings.TrimSuffix(name, ".pem"))] = signer
		}
	}
	k.keys.Store(&m)
	return nil
}

// Domains lists the domains with a key.
func (k *DKIMKeys) Domains() []string {
	var out []string
	for d := range *k.keys.Load() {
		out = append(out, d)
	}
	return out
}

func readSigner(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read DKIM key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("DKIM key %s: no PEM block", path)
	}
	if key, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("DKIM key %s: %w", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("DKIM key %s: unsupported key type", path)
	}
	return s, nil
}

func (k *DKIMKeys) signer(domain string) crypto.Signer {
	if k == nil {
		return nil
	}
	return (*k.keys.Load())[strings.ToLower(domain)]
}

// dkimResult counts what fixDKIM did.
type dkimResult struct {
	Resigned, Removed, Signed int
}

// resignHeaders are signed when present (RFC 6376 §5.4.1), List-Unsubscribe
// and List-Unsubscribe-Post included so one-click unsubscribe (RFC 8058
// §4) stays valid.
var resignHeaders = []string{"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id",
	"List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"}

// fixDKIM removes every DKIM-Signature that the relay's changes broke (body
// changed, or a signed header field changed, appeared or disappeared) and
// re-signs for that domain when it has a key: a signature known to fail is
// never forwarded. With SignAll, the From domain is signed too. An error
// means a signature could not be made; the header is still consistent and
// the message may go.
func (k *DKIMKeys) fixDKIM(orig rawHeader, origBody []byte, final *rawHeader, finalBody []byte) (dkimResult, error) {
	var res dkimResult
	bodyChanged := !bytes.Equal(origBody, finalBody)
	var domains []string // to sign, in order
	broken := map[string]bool{}
	kept := final.fields[:0]
	for _, f := range final.fields {
		if !strings.EqualFold(f.name(), "DKIM-Signature") {
			kept = append(kept, f)
			continue
		}
		tags := parseTags(f.value())
		if !bodyChanged && !signedHeadersChanged(orig, final, tags["h"]) {
			kept = append(kept, f)
			continue
		}
		d := strings.ToLower(tags["d"])
		switch {
		case k.signer(d) == nil:
			res.Removed++
		case !broken[d]:
			broken[d] = true
			domains = append(domains, d)
			res.Resigned++
		}
	}
	final.fields = kept
	if k != nil && k.SignAll {
		if d := fromDomain(final.get("From")); d != "" && k.signer(d) != nil && !broken[d] {
			domains = append(domains, d)
			res.Signed++
		}
	}
	var errs []error
	for _, d := range domains {
		sig, err := k.sign(d, final, finalBody)
		if err != nil {
			// The broken signature is already gone; the message still
			// goes, unsigned for d, rather than being refused for ever.
			if broken[d] {
				res.Resigned--
				res.Removed++
			} else {
				res.Signed--
			}
			errs = append(errs, err)
			continue
		}
		final.fields = append([]rawField{{raw: []byte(sig)}}, final.fields...)
	}
	return res, errors.Join(errs...)
}

// sign returns a DKIM-Signature field (with CRLF) over the message.
func (k *DKIMKeys) sign(domain string, h *rawHeader, body []byte) (string, error) {
	var keys []string
	seen := map[string]bool{}
	for _, name := range resignHeaders {
		for _, f := range h.fields {
			if strings.EqualFold(f.name(), name) && !seen[name] {
				seen[name] = true
				keys = append(keys, name)
			}
		}
	}
	if !seen["From"] {
		return "", errors.New("DKIM sign: message has no From field")
	}
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: domain, Selector: k.selector, Signer: k.signer(domain),
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return "", fmt.Errorf("DKIM sign for %s: %w", domain, err)
	}
	if _, err := s.Write(h.bytes(body)); err != nil {
		s.Close()
		return "", fmt.Errorf("DKIM sign for %s: %w", domain, err)
	}
	if err := s.Close(); err != nil {
		return "", fmt.Errorf("DKIM sign for %s: %w", domain, err)
	}
	return s.Signature(), nil
}

// parseTags splits a DKIM tag list (RFC 6376 §3.2) with white space removed
// from values.
func parseTags(v string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out[strings.TrimSpace(name)] = strings.Join(strings.Fields(val), "")
	}
	return out
}

// signedHeadersChanged compares, for each field name in h= (colon list),
// the instances present before and after.
func signedHeadersChanged(orig rawHeader, final *rawHeader, hList string) bool {
	if hList == "" {
		return true
	}
	for _, name := range strings.Split(hList, ":") {
		if !sameFields(orig.fields, final.fields, name) {
			return true
		}
	}
	return false
}

func sameFields(a, b []rawField, name string) bool {
	pick := func(fs []rawField) [][]byte {
		var out [][]byte
		for _, f := range fs {
			if strings.EqualFold(f.name(), name) {
				out = append(out, f.raw)
			}
		}
		return out
	}
	pa, pb := pick(a), pick(b)
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if !bytes.Equal(pa[i], pb[i]) {
			return false
		}
	}
	return true
}

// fromDomain extracts the domain of the first address in a From value.
func fromDomain(from string) string {
	if i := strings.LastIndex(from, "<"); i >= 0 {
		from = from[i+1:]
		if j := strings.IndexByte(from, '>'); j >= 0 {
			from = from[:j]
		}
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(strings.Trim(from[at+1:], " >;,")))
}

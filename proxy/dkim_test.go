package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// dkimFixture is a domain key written as DIR/<domain>.pem plus the DNS TXT
// record a verifier would find.
type dkimFixture struct {
	dir string
	key *rsa.PrivateKey
	txt string
}

func newDKIMFixture(t *testing.T, domain string) dkimFixture {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, domain+".pem"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	return dkimFixture{dir: dir, key: key, txt: "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub)}
}

// verifyDKIM verifies every signature with TXT records from txt (selector
// "._domainkey." domain → record) and returns the verifications.
func verifyDKIM(t *testing.T, msg []byte, txt map[string]string) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := txt[name]; ok {
				return []string{v}, nil
			}
			return nil, os.ErrNotExist
		},
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return vs
}

func signAs(t *testing.T, msg []byte, domain, selector string, f dkimFixture, headers []string) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: f.key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed, HeaderKeys: headers})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

const dkimMsg = "From: News <news@shop.example>\r\nTo: bob@example.net\r\nSubject: Sale\r\n" +
	"List-Unsubscribe: <https://shop.example/u/1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"Content-Type: text/html\r\n\r\n<p>Hello <img src=\"https://t.esp.example/o/abc.gif\" width=1 height=1></p>\r\n"

func TestFixDKIMResignsBrokenSignature(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	signed := signAs(t, []byte(dkimMsg), "shop.example", "s1", sender, []string{"From", "Subject", "To"})
	origH, origBody, err := splitMessage(signed)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadDKIMKeys(sender.dir, "pixelgate", false)
	if err != nil {
		t.Fatal(err)
	}
	// The rewrite strips the pixel: the body hash no longer matches.
	finalH, _, _ := splitMessage(signed)
	newBody := bytes.Replace(origBody, []byte(`<img src="https://t.esp.example/o/abc.gif" width=1 height=1>`), nil, 1)
	res, err := keys.fixDKIM(origH, origBody, &finalH, newBody)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resigned != 1 || res.Removed != 0 {
		t.Fatalf("result %+v", res)
	}
	out := finalH.bytes(newBody)
	vs := verifyDKIM(t, out, map[string]string{"pixelgate._domainkey.shop.example": sender.txt, "s1._domainkey.shop.example": sender.txt})
	if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "shop.example" {
		t.Fatalf("verifications: %+v (%v)", vs, vs[0].Err)
	}
	sig := finalH.get("DKIM-Signature")
	hList := strings.ToLower(parseTags(sig)["h"])
	for _, want := range []string{"list-unsubscribe", "list-unsubscribe-post", "from"} {
		if !strings.Contains(":"+hList+":", ":"+want+":") {
			t.Errorf("h=%s lacks %s", hList, want)
		}
	}
}

func TestFixDKIMRemovesBrokenSignatureWithoutKey(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	signed := signAs(t, []byte(dkimMsg), "shop.example", "s1", sender, nil)
	origH, origBody, _ := splitMessage(signed)
	finalH, _, _ := splitMessage(signed)
	res, err := (*DKIMKeys)(nil).fixDKIM(origH, origBody, &finalH, append(bytes.Clone(origBody), "footer\r\n"...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || finalH.get("DKIM-Signature") != "" {
		t.Fatalf("broken signature kept: %+v", res)
	}
}

func TestFixDKIMKeepsIntactSignature(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	signed := signAs(t, []byte(dkimMsg), "shop.example", "s1", sender, []string{"From", "Subject"})
	origH, origBody, _ := splitMessage(signed)
	finalH, _, _ := splitMessage(signed)
	// Adding a field that is not signed (Received) breaks nothing.
	finalH.prepend("Received", "from x by y")
	res, err := (*DKIMKeys)(nil).fixDKIM(origH, origBody, &finalH, origBody)
	if err != nil || res != (dkimResult{}) {
		t.Fatalf("%+v %v", res, err)
	}
	vs := verifyDKIM(t, finalH.bytes(origBody), map[string]string{"s1._domainkey.shop.example": sender.txt})
	if len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("intact signature no longer verifies: %v", vs[0].Err)
	}
	// A signed field that changes breaks it.
	finalH.set("Subject", "changed")
	res, _ = (*DKIMKeys)(nil).fixDKIM(origH, origBody, &finalH, origBody)
	if res.Removed != 1 {
		t.Errorf("changed signed header not detected: %+v", res)
	}
}

func TestSignAll(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	keys, err := LoadDKIMKeys(sender.dir, "pg", true)
	if err != nil {
		t.Fatal(err)
	}
	h, body, _ := splitMessage([]byte(dkimMsg))
	res, err := keys.fixDKIM(h, body, &h, body)
	if err != nil || res.Signed != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	vs := verifyDKIM(t, h.bytes(body), map[string]string{"pg._domainkey.shop.example": sender.txt})
	if len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("sign-all signature does not verify")
	}
}

func TestFixDKIMWithoutFromStillSends(t *testing.T) {
	sender := newDKIMFixture(t, "shop.example")
	keys, err := LoadDKIMKeys(sender.dir, "pg", false)
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Replace(dkimMsg, "From: News <news@shop.example>\r\n", "", 1)
	signed := signAs(t, []byte("From: x@shop.example\r\n"+msg), "shop.example", "s1", sender, nil)
	origH, origBody, _ := splitMessage(signed)
	finalH, _, _ := splitMessage(signed)
	finalH.removeIf(func(n string) bool { return strings.EqualFold(n, "From") })
	res, err := keys.fixDKIM(origH, origBody, &finalH, origBody)
	if err == nil || res.Removed != 1 || res.Resigned != 0 || finalH.get("DKIM-Signature") != "" {
		t.Fatalf("res %+v err %v", res, err)
	}
}

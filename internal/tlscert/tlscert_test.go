package tlscert

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSelfSignedCertificateIsMadeOnce(t *testing.T) {
	dir := t.TempDir()
	c1, err := SelfSignedCertificate(dir, "relay.test", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "tls-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st.Mode())
	}
	c2, err := SelfSignedCertificate(dir, "relay.test", time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.cur.Load().Leaf.Equal(c2.cur.Load().Leaf) {
		t.Error("second start generated a new certificate")
	}
	leaf := c1.cur.Load().Leaf
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("certificate not valid for 127.0.0.1: %v", err)
	}
}

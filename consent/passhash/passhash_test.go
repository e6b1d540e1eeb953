package passhash

import (
	"crypto/rand"
	"strings"
	"testing"
)

var testHash = Params{MemoryKiB: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := Hash(rand.Reader, testHash, "Vt7#kq2!Lm9z")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not in argon2id PHC form", h)
	}
	if ok, err := Verify(h, "Vt7#kq2!Lm9z"); err != nil || !ok {
		t.Fatalf("right password: ok=%v err=%v", ok, err)
	}
	if ok, _ := Verify(h, "Vt7#kq2!Lm9Z"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := Hash(rand.Reader, testHash, "Vt7#kq2!Lm9z")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1$x$y", "$argon2i$v=19$m=1024,t=1,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"} {
		if _, err := Verify(bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

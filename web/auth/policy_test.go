package auth

import (
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	p := NewPolicy()
	cases := []struct {
		name, pw string
		ok       bool
	}{
		{"four classes, 12", "Vt7#kq2!Lm9z", true},
		{"four classes, 11", "Vt7#kq2!Lm9", false},
		{"three classes, 14", "Vt7kq2Lm9zRw4x", true},
		{"three classes, 13", "Vt7kq2Lm9zRw4", false},
		{"two classes, long", "vtkqlmzrwxbnhgfd", false},
		{"passphrase of 7 words", "river lamp quietly seven orange doors open", true},
		{"passphrase of 6 words", "river lamp quietly seven orange doors", false},
		{"common word dressed up", "P@ssw0rd2024!", false},
		{"common word with suffix", "Motdepasse123!", false},
		{"keyboard walk", "Azerty123456!", false},
		{"famous passphrase", "correct horse battery staple", false},
		{"contains the account name", "Alice-Vt7#kq2!Lm9z", false},
		{"too long", strings.Repeat("Vt7#kq2!", 40), false},
	}
	for _, c := range cases {
		err := p.Check("alice", c.pw)
		if (err == nil) != c.ok {
			t.Errorf("%s: Check(%q) = %v, want ok=%v", c.name, c.pw, err, c.ok)
		}
		if err != nil && !IsPolicyError(err) {
			t.Errorf("%s: error %v is not a policy error", c.name, err)
		}
	}
}

func FuzzPolicy(f *testing.F) {
	for _, s := range []string{"", "P@ssw0rd2024!", "Vt7#kq2!Lm9z", "é\u0301\x00\xff"} {
		f.Add("alice", s)
	}
	p := NewPolicy()
	f.Fuzz(func(t *testing.T, name, pw string) {
		err := p.Check(name, pw)
		if err != nil && !IsPolicyError(err) {
			t.Fatalf("non-policy error %v", err)
		}
		if err == nil && len([]rune(pw)) < minLenFourClasses {
			t.Fatalf("accepted %q shorter than the minimum", pw)
		}
	})
}

package auth

import (
	"bufio"
	_ "embed"
	"errors"
	"strings"
	"unicode"
)

// The password policy follows CNIL deliberation 2022-100 (recommendation on
// passwords): with login throttling in place, a password must carry about 80
// bits of entropy, which the CNIL illustrates as
//   - 12 characters or more mixing upper case, lower case, digits and
//     special characters, or
//   - 14 characters or more mixing upper case, lower case and digits, or
//   - a passphrase of at least 7 words;
//
// and it must not be a common or previously leaked password.
const (
	minLenFourClasses  = 12
	minLenThreeClasses = 14
	minPassphraseWords = 7
	minPassphraseLen   = 20
	// maxPasswordLen bounds the argon2 input so a login form cannot be used
	// to make the server hash megabytes.
	maxPasswordLen = 256
)

//go:embed common-passwords.txt
var commonPasswordsText string

// PolicyError explains why a password was refused, in words for the form.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password refused: " + e.Reason }

// errPolicy is what errors.Is matches for any PolicyError.
var errPolicy = errors.New("password policy")

func (e *PolicyError) Is(target error) bool { return target == errPolicy }

// IsPolicyError reports whether err is a refusal by the password policy.
func IsPolicyError(err error) bool { return errors.Is(err, errPolicy) }

// Policy checks new passwords. It is built once from the embedded list.
type Policy struct {
	common map[string]bool
}

// NewPolicy parses the embedded common-password list.
func NewPolicy() *Policy {
	p := &Policy{common: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p.common[line] = true
	}
	return p
}

// Check returns nil when password may be used by account name, or a
// *PolicyError saying what to change.
func (p *Policy) Check(name, password string) error {
	n := len([]rune(password))
	if n > maxPasswordLen {
		return &PolicyError{"longer than 256 characters"}
	}
	lower := strings.ToLower(password)
	if len(name) >= 3 && strings.Contains(lower, strings.ToLower(name)) {
		return &PolicyError{"it contains the account name"}
	}
	if p.isCommon(lower) {
		return &PolicyError{"it is a common password or a common word with digits or symbols added"}
	}
	classes := characterClasses(password)
	switch {
	case n >= minLenFourClasses && classes == 4:
		return nil
	case n >= minLenThreeClasses && classes >= 3:
		return nil
	case n >= minPassphraseLen && passphraseWords(password) >= minPassphraseWords:
		return nil
	}
	return &PolicyError{"use at least 12 characters mixing upper case, lower case, digits and symbols; " +
		"or at least 14 mixing three of those; or a passphrase of at least 7 words"}
}

func characterClasses(s string) int {
	var upper, lower, digit, other bool
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{upper, lower, digit, other} {
		if b {
			n++
		}
	}
	return n
}

// passphraseWords counts words of two letters or more; separators are
// spaces and punctuation so "horse-battery-staple" counts three.
func passphraseWords(s string) int {
	words := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	n := 0
	for _, w := range words {
		if len([]rune(w)) >= 2 {
			n++
		}
	}
	return n
}

// leet undoes the substitutions people use to dress up a common word.
var leet = strings.NewReplacer("@", "a", "4", "a", "3", "e", "1", "i", "!", "i", "0", "o", "$", "s", "5", "s", "7", "t", "+", "t")

// isCommon: the password itself, or its stem once leading and trailing
// digits and symbols are removed and substitutions undone, or the stem with
// its spaces removed (a common phrase typed with spaces), is on the list.
func (p *Policy) isCommon(lower string) bool {
	if p.common[lower] {
		return true
	}
	stem := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	// A word dressed up inside as well as at the ends: "p@ssw0rd2024!".
	dressed := strings.TrimFunc(leet.Replace(strings.TrimRight(lower, "0123456789!?.*#&%-_ ")), func(r rune) bool { return !unicode.IsLetter(r) })
	for _, c := range []string{stem, dressed, strings.ReplaceAll(stem, " ", ""), strings.ReplaceAll(dressed, " ", "")} {
		if c != "" && p.common[c] {
			return true
		}
	}
	return false
}

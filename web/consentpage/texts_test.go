package consentpage

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDefaultTexts(t *testing.T) {
	tx, err := DefaultTexts()
	if err != nil {
		t.Fatal(err)
	}
	en, ok1 := tx.Hash(tx.Current(), "en")
	fr, ok2 := tx.Hash(tx.Current(), "fr")
	if !ok1 || !ok2 || len(en) != 64 || en == fr {
		t.Fatalf("hashes en=%q fr=%q: want two distinct SHA-256 hex values", en, fr)
	}
	if _, ok := tx.Hash(tx.Current(), "de"); ok {
		t.Error("a language the file does not have is known")
	}
}

// A new version in the file becomes the current one; the old one stays
// known so a page loaded before the update still records with its own
// version and hash. Changing any shown word changes the hash.
func TestTextsVersionsAndHash(t *testing.T) {
	var f textsFile
	if err := json.Unmarshal(defaultTexts, &f); err != nil {
		t.Fatal(err)
	}
	v2 := f.Versions[0]
	v2.Version = "2027-01-01"
	en := *v2.EN
	en.Intro += " Updated."
	v2.EN = &en
	f.Versions = append(f.Versions, v2)
	b, _ := json.Marshal(f)
	tx, err := ParseTexts(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if tx.Current() != "2027-01-01" {
		t.Fatalf("current %q, want the last version", tx.Current())
	}
	old, ok := tx.Hash("2026-11-01", "en")
	cur, _ := tx.Hash("2027-01-01", "en")
	if !ok || old == cur {
		t.Fatal("old version unknown, or a changed text kept its hash")
	}
	frOld, _ := tx.Hash("2026-11-01", "fr")
	frNew, _ := tx.Hash("2027-01-01", "fr")
	if frOld != frNew {
		t.Error("unchanged French text got a different hash")
	}

	// The controller's details are part of the text shown, so of the hash.
	f.Controller.Name = "Other SAS"
	b, _ = json.Marshal(f)
	tx2, err := ParseTexts(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := tx2.Hash("2027-01-01", "en"); h == cur {
		t.Error("changing the controller did not change the text hash")
	}
}

func TestParseTextsErrors(t *testing.T) {
	base := func() textsFile {
		var f textsFile
		_ = json.Unmarshal(defaultTexts, &f)
		return f
	}
	for name, c := range map[string]struct {
		mutate func(*textsFile)
		want   string
	}{
		"no controller name": {func(f *textsFile) { f.Controller.Name = " " }, "name is empty"},
		"no DPO email":       {func(f *textsFile) { f.Controller.DPOEmail = "" }, "dpo_email is empty"},
		"bad DPO email":      {func(f *textsFile) { f.Controller.DPOEmail = "Bob <bob@x.fr>" }, "not a plain email"},
		"bad privacy URL":    {func(f *textsFile) { f.Controller.PrivacyURL = "javascript:alert(1)" }, "privacy_url"},
		"no version":         {func(f *textsFile) { f.Versions = nil }, "no version"},
		"bad version name":   {func(f *textsFile) { f.Versions[0].Version = "v 1" }, "version 1: name"},
		"missing French":     {func(f *textsFile) { f.Versions[0].FR = nil }, `no "fr" text`},
		"empty title":        {func(f *textsFile) { f.Versions[0].EN.Title = "" }, "title is empty"},
		"duplicate version":  {func(f *textsFile) { f.Versions = append(f.Versions, f.Versions[0]) }, "given twice"},
	} {
		f := base()
		c.mutate(&f)
		b, _ := json.Marshal(f)
		_, err := ParseTexts(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
	}
	if _, err := ParseTexts(strings.NewReader(`{"controller":{}, "surprise": 1}`)); err == nil {
		t.Error("unknown field accepted")
	}
}

// Texts are plain text: markup in the file is shown, never interpreted.
func TestTextsCannotInjectMarkup(t *testing.T) {
	var f textsFile
	_ = json.Unmarshal(defaultTexts, &f)
	f.Versions[0].EN.Intro = `<script>alert(1)</script><a href="https://evil.example">x</a>`
	b, _ := json.Marshal(f)
	tx, err := ParseTexts(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := tx.text(tx.Current(), "en")
	if strings.Contains(string(rt.head), "<script") || strings.Contains(string(rt.head), `<a href="https://evil`) {
		t.Fatalf("markup from the texts file reached the page: %s", rt.head)
	}
}

func FuzzParseTexts(f *testing.F) {
	f.Add(string(defaultTexts))
	f.Add(`{"controller":{"name":"x","dpo_email":"a@b.c","contact_email":"a@b.c"},"versions":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		tx, err := ParseTexts(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range languages {
			if h, ok := tx.Hash(tx.Current(), l); !ok || len(h) != 64 {
				t.Fatalf("accepted texts without a %s hash", l)
			}
		}
	})
}

package consentpage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pixelgate/pixelgate/internal/lang"
	"github.com/pixelgate/pixelgate/web/dashtest"
)

// MarshalJSON writes a version as the file has it, for tests that build
// texts files from the embedded one.
func (v versionFile) MarshalJSON() ([]byte, error) {
	m := map[string]any{"version": v.Version}
	for code, lf := range v.Texts {
		if lf != nil {
			m[code] = lf
		}
	}
	return json.Marshal(m)
}

// defaultFile is the embedded texts file, decoded, to be changed by a test.
func defaultFile(t *testing.T) textsFile {
	t.Helper()
	f, err := readTexts(bytes.NewReader(defaultTexts))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f textsFile) marshal(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

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
	f := defaultFile(t)
	v2 := versionFile{Version: "2027-01-01", Texts: map[string]*langFile{}}
	for code, lf := range f.Versions[0].Texts {
		c := *lf
		v2.Texts[code] = &c
	}
	v2.Texts["en"].Intro = ptr(*v2.Texts["en"].Intro + " Updated.")
	f.Versions = append(f.Versions, v2)
	tx, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
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
	tx2, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := tx2.Hash("2027-01-01", "en"); h == cur {
		t.Error("changing the controller did not change the text hash")
	}
}

func TestParseTextsErrors(t *testing.T) {
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
		"empty title":        {func(f *textsFile) { f.Versions[0].Texts["en"].Title = ptr("") }, "title is empty"},
		"empty sections":     {func(f *textsFile) { f.Versions[0].Texts["fr"].Sections = &[]Section{} }, "no section"},
		"duplicate version":  {func(f *textsFile) { f.Versions = append(f.Versions, f.Versions[0]) }, "given twice"},
		"unknown language":   {func(f *textsFile) { f.Versions[0].Texts["de"] = f.Versions[0].Texts["en"] }, `unknown language "de"`},
	} {
		f := defaultFile(t)
		c.mutate(&f)
		_, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
	}
	for name, in := range map[string]string{
		"unknown field":          `{"controller":{}, "surprise": 1}`,
		"unknown key in a text":  `{"versions":[{"version":"v1","en":{"titel":"x"}}]}`,
		"same language twice":    `{"versions":[{"version":"v1","en":{},"EN":{}}]}`,
		"version name no string": `{"versions":[{"version":1}]}`,
	} {
		if _, err := ParseTexts(strings.NewReader(in), nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The embedded file is what every other file falls back on: it must have
// every key of every language, and DefaultTexts refuses it otherwise.
func TestEmbeddedTextsMustBeComplete(t *testing.T) {
	f := defaultFile(t)
	f.Versions[0].Texts["fr"].Rights = nil
	if _, err := f.build(nil, nil); err == nil || !strings.Contains(err.Error(), "no rights") {
		t.Errorf("embedded texts without fr rights: %v, want an error naming it", err)
	}
	f = defaultFile(t)
	delete(f.Versions[0].Texts, "fr")
	if _, err := f.build(nil, nil); err == nil || !strings.Contains(err.Error(), `no "fr" text`) {
		t.Errorf("embedded texts without French: %v, want an error naming it", err)
	}
}

// TestOperatorTextsFallBack: an operator's file that leaves out a language
// (or keys of one) loads; each gap is filled from the embedded text of that
// language and logged, and the hashes are those of what is shown.
func TestOperatorTextsFallBack(t *testing.T) {
	embedded, err := DefaultTexts()
	if err != nil {
		t.Fatal(err)
	}
	def := defaultFile(t)

	t.Run("language left out", func(t *testing.T) {
		f := defaultFile(t)
		f.Versions[0].Version = "acme-1"
		delete(f.Versions[0].Texts, "fr")
		var logs dashtest.SyncBuffer
		tx, err := ParseTexts(bytes.NewReader(f.marshal(t)), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("a file with English only: %v", err)
		}
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "lang=fr") || !strings.Contains(l, "version=acme-1") {
			t.Errorf("no warning naming the version and the language:\n%s", l)
		}
		fr, ok := tx.Hash("acme-1", "fr")
		want, _ := embedded.Hash(embedded.Current(), "fr")
		if !ok || fr != want {
			t.Errorf("French hash %q, %v: want the embedded French text's %q (same text, same controller)", fr, ok, want)
		}
		en, _ := tx.Hash("acme-1", "en")
		if wantEN, _ := embedded.Hash(embedded.Current(), "en"); en != wantEN {
			t.Error("the English text given was not the one rendered")
		}
	})

	t.Run("keys left out", func(t *testing.T) {
		f := defaultFile(t)
		f.Controller.Name = "Acme SAS"
		fr := f.Versions[0].Texts["fr"]
		fr.Title = ptr("Mesure d’ouverture chez Acme")
		fr.Intro, fr.Sections = nil, nil
		var logs dashtest.SyncBuffer
		tx, err := ParseTexts(bytes.NewReader(f.marshal(t)), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatalf("a French text without intro and sections: %v", err)
		}
		if l := logs.String(); !strings.Contains(l, "lang=fr") || !strings.Contains(l, "missing=\"[intro sections]\"") {
			t.Errorf("no warning naming the keys left out:\n%s", l)
		}
		rt, _ := tx.text(tx.Current(), "fr")
		wantIntro := strings.ReplaceAll(*def.Versions[0].Texts["fr"].Intro, "{controller}", "Acme SAS")
		firstHeading := (*def.Versions[0].Texts["fr"].Sections)[0].Heading
		if !strings.Contains(string(rt.head), "Mesure d’ouverture chez Acme") ||
			!strings.Contains(string(rt.head), template.HTMLEscapeString(wantIntro)) || !strings.Contains(string(rt.info), template.HTMLEscapeString(firstHeading)) {
			t.Errorf("French text is not the given title with the embedded intro and sections:\n%s\n%s", rt.head, rt.info)
		}
	})

	t.Run("complete file warns nothing", func(t *testing.T) {
		var logs dashtest.SyncBuffer
		if _, err := ParseTexts(bytes.NewReader(defaultTexts), slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatal(err)
		}
		if logs.String() != "" {
			t.Errorf("warnings for a complete file:\n%s", logs.String())
		}
	})
}

// TestOperatorTextsFrenchPage: with an operator's file in English only,
// the real handler serves a French reader the embedded French text naming
// the operator, and a decision made there records that text's hash (R2).
func TestOperatorTextsFrenchPage(t *testing.T) {
	f := defaultFile(t)
	f.Controller.Name = "Acme SAS"
	f.Versions[0].Version = "acme-1"
	delete(f.Versions[0].Texts, "fr")
	tx, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
	if err != nil {
		t.Fatalf("a file with English only: %v", err)
	}
	e := newEnvTexts(t, storeKinds[0].open, tx)
	tok, k := e.pageToken(t, "marie@exemple.fr")
	r := e.get(t, "/c/"+tok, "Accept-Language", "fr-FR")
	wantTitle := strings.ReplaceAll(*defaultFile(t).Versions[0].Texts["fr"].Title, "{controller}", "Acme SAS")
	if r.status != 200 || !strings.Contains(r.body, `<html lang="fr">`) || !strings.Contains(r.body, template.HTMLEscapeString(wantTitle)) {
		t.Fatalf("status %d: the French page does not show the embedded French title %q:\n%s", r.status, wantTitle, r.body)
	}
	form := formOf(t, r.body)
	form.Set("decision", "refuse")
	e.followDecision(t, e.post(t, "/c/"+tok, form, "Sec-Fetch-Site", "same-origin"), tok, "refused")
	frHash, _ := tx.Hash("acme-1", "fr")
	if h, _ := e.st.History(t.Context(), k); len(h) != 1 || h[0].PolicyVersion != "acme-1" || h[0].TextHash != frHash {
		t.Fatalf("history %+v: want one refusal naming acme-1 and the French text's hash", h)
	}
}

// Texts are plain text: markup in the file is shown, never interpreted.
func TestTextsCannotInjectMarkup(t *testing.T) {
	f := defaultFile(t)
	f.Versions[0].Texts["en"].Intro = ptr(`<script>alert(1)</script><a href="https://evil.example">x</a>`)
	tx, err := ParseTexts(bytes.NewReader(f.marshal(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := tx.text(tx.Current(), "en")
	if strings.Contains(string(rt.head), "<script") || strings.Contains(string(rt.head), `<a href="https://evil`) {
		t.Fatalf("markup from the texts file reached the page: %s", rt.head)
	}
}

// TestEveryPlaceHasEveryLanguage: adding a language to the registry
// (internal/lang) is one entry there plus the consent page's texts; this
// test names each place that would still lack it. The footer's and the
// bad-link page's words live in the registry entry itself (its own test
// checks them).
func TestEveryPlaceHasEveryLanguage(t *testing.T) {
	f := defaultFile(t)
	tx, err := DefaultTexts()
	if err != nil {
		t.Errorf("embedded texts: %v", err)
	}
	for _, code := range lang.Codes() {
		if u, ok := uiText[code]; !ok {
			t.Errorf("%s: no page chrome in uiText (ui.go)", code)
		} else {
			for name, s := range uiStrings(u) {
				if strings.TrimSpace(s) == "" {
					t.Errorf("%s: page chrome %s is empty (ui.go)", code, name)
				}
			}
		}
		for _, v := range f.Versions {
			if v.Texts[code] == nil {
				t.Errorf("%s: no information text in version %s (texts/default.json)", code, v.Version)
			}
			if tx == nil {
				continue
			}
			if _, ok := tx.Hash(v.Version, code); !ok {
				t.Errorf("%s: version %s not rendered", code, v.Version)
			}
		}
	}
	if extra := slices.DeleteFunc(slices.Collect(maps.Keys(uiText)), isLang); len(extra) > 0 {
		t.Errorf("page chrome for %v, which the registry does not list", extra)
	}
}

// uiStrings are the strings of u by field name, a map field's entries
// included under every key the default language's chrome has, so that a
// state described in one language is described in all.
func uiStrings(u ui) map[string]string {
	out := map[string]string{}
	v, def := reflect.ValueOf(u), reflect.ValueOf(uiText[lang.Default])
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			out[name] = f.String()
		case reflect.Map:
			for _, k := range def.Field(i).MapKeys() {
				e := f.MapIndex(k)
				if !e.IsValid() {
					out[fmt.Sprintf("%s[%v]", name, k)] = ""
					continue
				}
				out[fmt.Sprintf("%s[%v]", name, k)] = e.String()
			}
		default:
			out[name+" (a field this test does not read)"] = ""
		}
	}
	return out
}

func FuzzParseTexts(f *testing.F) {
	f.Add(string(defaultTexts))
	f.Add(`{"controller":{"name":"x","dpo_email":"a@b.c","contact_email":"a@b.c"},"versions":[]}`)
	f.Add(`{"controller":{"name":"x","dpo_email":"a@b.c","contact_email":"a@b.c"},"versions":[{"version":"v","en":{"title":"t"}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		tx, err := ParseTexts(strings.NewReader(in), nil)
		if err != nil {
			return
		}
		for _, l := range lang.Codes() {
			if h, ok := tx.Hash(tx.Current(), l); !ok || len(h) != 64 {
				t.Fatalf("accepted texts without a %s hash", l)
			}
		}
	})
}

package consentpage

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/mail"
	"net/url"
	"regexp"
	"strings"

	"github.com/pixelgate/pixelgate/internal/lang"
)

//go:embed texts/default.json
var defaultTexts []byte

// Controller is who is responsible for the processing (GDPR Art. 13(1)(a),
// (b)): shown on every page, and in the invalid-link page so a recipient can
// always reach a person.
type Controller struct {
	Name         string `json:"name"`
	Address      string `json:"address"`
	ContactEmail string `json:"contact_email"`
	DPOName      string `json:"dpo_name"`
	DPOEmail     string `json:"dpo_email"`
	PrivacyURL   string `json:"privacy_url"`
}

// Section is one heading of the information text with its paragraphs.
type Section struct {
	Heading    string   `json:"heading"`
	Paragraphs []string `json:"paragraphs"`
}

// LangText is the information text of one version in one language.
// "{controller}" in any string is replaced by the controller's name.
type LangText struct {
	Title           string
	Intro           string
	Sections        []Section
	ContactHeading  string
	ControllerLabel string
	DPOLabel        string
	Rights          string
	PrivacyLink     string
}

// textsFile is the format of the texts file (see texts/default.json).
type textsFile struct {
	Controller Controller    `json:"controller"`
	Versions   []versionFile `json:"versions"`
}

// versionFile is one version as written: its name and, under each
// language's code, that language's text. A language left out is absent
// from Texts.
type versionFile struct {
	Version string
	Texts   map[string]*langFile
}

// langFile is one language's text as written: a nil field is a key the
// file leaves out, which the embedded text fills in (see ParseTexts); a
// key given empty is a mistake and refused.
type langFile struct {
	Title           *string    `json:"title,omitempty"`
	Intro           *string    `json:"intro,omitempty"`
	Sections        *[]Section `json:"sections,omitempty"`
	ContactHeading  *string    `json:"contact_heading,omitempty"`
	ControllerLabel *string    `json:"controller_label,omitempty"`
	DPOLabel        *string    `json:"dpo_label,omitempty"`
	Rights          *string    `json:"rights,omitempty"`
	PrivacyLink     *string    `json:"privacy_link,omitempty"`
}

// UnmarshalJSON reads {"version": ..., "<code>": {...}, ...}: every key
// but "version" must be a language in the registry (internal/lang), and a
// language's text may hold only the keys of langFile. Keys match without
// regard to case, as encoding/json does for the other fields of the file.
func (v *versionFile) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*v = versionFile{Texts: map[string]*langFile{}}
	for k, m := range raw {
		if strings.EqualFold(k, "version") {
			if err := json.Unmarshal(m, &v.Version); err != nil {
				return fmt.Errorf("version name: %w", err)
			}
			continue
		}
		code := strings.ToLower(k)
		if _, ok := lang.Get(code); !ok {
			return fmt.Errorf("unknown language %q (pixelgate speaks %s)", k, strings.Join(lang.Codes(), ", "))
		}
		if _, dup := v.Texts[code]; dup {
			return fmt.Errorf("language %q given twice", code)
		}
		var lf *langFile
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&lf); err != nil {
			return fmt.Errorf("%s text: %w", code, err)
		}
		v.Texts[code] = lf
	}
	return nil
}

// resolve is the text of lf, each key lf leaves out taken from fallback;
// missing lists those keys. With no fallback, a key left out is an error.
func (lf *langFile) resolve(fallback *LangText) (LangText, []string, error) {
	var fb LangText
	if fallback != nil {
		fb = *fallback
	}
	var missing []string
	str := func(key string, p *string, fb string) string {
		if p != nil {
			return *p
		}
		missing = append(missing, key)
		return fb
	}
	var lt LangText
	lt.Title = str("title", lf.Title, fb.Title)
	lt.Intro = str("intro", lf.Intro, fb.Intro)
	if lt.Sections = fb.Sections; lf.Sections != nil {
		lt.Sections = *lf.Sections
	} else {
		missing = append(missing, "sections")
	}
	lt.ContactHeading = str("contact_heading", lf.ContactHeading, fb.ContactHeading)
	lt.ControllerLabel = str("controller_label", lf.ControllerLabel, fb.ControllerLabel)
	lt.DPOLabel = str("dpo_label", lf.DPOLabel, fb.DPOLabel)
	lt.Rights = str("rights", lf.Rights, fb.Rights)
	lt.PrivacyLink = str("privacy_link", lf.PrivacyLink, fb.PrivacyLink)
	if fallback == nil && len(missing) > 0 {
		return LangText{}, nil, fmt.Errorf("no %s", strings.Join(missing, ", "))
	}
	return lt, missing, nil
}

// Texts are the loaded, rendered and hashed information texts. The last
// version in the file is the one shown; every version stays known so a
// decision made on a page loaded just before an update still validates.
type Texts struct {
	controller Controller
	current    string
	rendered   map[textID]renderedText
}

type textID struct{ version, lang string }

// renderedText is the information text exactly as it appears in the page
// and the hex SHA-256 of those bytes (head then info), stored as evidence
// (R2).
type renderedText struct {
	title      string
	head, info template.HTML
	hash       string
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// DefaultTexts are the embedded texts (texts/default.json). A deployment
// replaces them with its own file: the controller's details there are
// placeholders. The embedded file must be complete: it is what every
// other file falls back on.
func DefaultTexts() (*Texts, error) {
	f, err := readTexts(bytes.NewReader(defaultTexts))
	if err != nil {
		return nil, err
	}
	return f.build(nil, nil)
}

// ParseTexts reads a texts file (JSON, see texts/default.json), checks it
// and renders every version in every language pixelgate speaks. A
// language the file leaves out of a version, or a key it leaves out of a
// language, is filled in from the current embedded text of that language,
// with a warning on log (nil: none): a recipient is always informed, in
// their language, and the hash kept as evidence (R2) is that of the text
// shown, filled-in parts included. A key given empty, a language pixelgate
// does not speak or a key it does not know are errors.
func ParseTexts(r io.Reader, log *slog.Logger) (*Texts, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	def, err := readTexts(bytes.NewReader(defaultTexts))
	if err != nil {
		return nil, fmt.Errorf("embedded %w", err)
	}
	if len(def.Versions) == 0 {
		return nil, fmt.Errorf("embedded consent texts: no version")
	}
	fallback := map[string]*LangText{}
	cur := def.Versions[len(def.Versions)-1]
	for _, code := range lang.Codes() {
		lf := cur.Texts[code]
		if lf == nil {
			return nil, fmt.Errorf("embedded consent texts: version %s: no %q text", cur.Version, code)
		}
		lt, _, err := lf.resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("embedded consent texts: version %s, %s: %w", cur.Version, code, err)
		}
		fallback[code] = &lt
	}
	f, err := readTexts(r)
	if err != nil {
		return nil, err
	}
	return f.build(fallback, func(version, code string, missing []string) {
		if missing == nil {
			log.Warn("consent texts: a version has no text in a language pixelgate speaks; "+
				"its page shows pixelgate's embedded text in that language instead",
				"version", version, "lang", code, "embedded_version", cur.Version)
			return
		}
		log.Warn("consent texts: a language's text leaves keys out; "+
			"its page shows pixelgate's embedded text for them instead",
			"version", version, "lang", code, "missing", missing, "embedded_version", cur.Version)
	})
}

// readTexts decodes a texts file, refusing what it does not know.
func readTexts(r io.Reader) (textsFile, error) {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	var f textsFile
	if err := dec.Decode(&f); err != nil {
		return textsFile{}, fmt.Errorf("read consent texts: %w", err)
	}
	return f, nil
}

// build checks f and renders every version in every language. fallback
// (nil: none allowed) gives the text of a language f leaves out, and of
// each key f leaves out of a language; filled reports each use.
func (f textsFile) build(fallback map[string]*LangText, filled func(version, code string, missing []string)) (*Texts, error) {
	if err := f.Controller.check(); err != nil {
		return nil, fmt.Errorf("consent texts: controller: %w", err)
	}
	if len(f.Versions) == 0 {
		return nil, fmt.Errorf("consent texts: no version")
	}
	t := &Texts{controller: f.Controller, rendered: map[textID]renderedText{}}
	for i, v := range f.Versions {
		if !versionRE.MatchString(v.Version) {
			return nil, fmt.Errorf("consent texts: version %d: name %q: want letters, digits, '.', '_' or '-'", i+1, v.Version)
		}
		for _, l := range lang.Codes() {
			id := textID{v.Version, l}
			if _, dup := t.rendered[id]; dup {
				return nil, fmt.Errorf("consent texts: version %s given twice", v.Version)
			}
			var lt LangText
			switch lf := v.Texts[l]; {
			case lf != nil:
				var missing []string
				var err error
				if lt, missing, err = lf.resolve(fallback[l]); err != nil {
					return nil, fmt.Errorf("consent texts: version %s, %s: %w", v.Version, l, err)
				}
				if len(missing) > 0 {
					filled(v.Version, l, missing)
				}
			case fallback[l] != nil:
				lt = *fallback[l]
				filled(v.Version, l, nil)
			default:
				return nil, fmt.Errorf("consent texts: version %s: no %q text", v.Version, l)
			}
			if err := lt.check(); err != nil {
				return nil, fmt.Errorf("consent texts: version %s, %s: %w", v.Version, l, err)
			}
			rt, err := renderInfo(f.Controller, l, &lt)
			if err != nil {
				return nil, fmt.Errorf("consent texts: version %s, %s: %w", v.Version, l, err)
			}
			t.rendered[id] = rt
		}
		t.current = v.Version
	}
	return t, nil
}

func (c Controller) check() error {
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("name is empty")
	}
	for _, e := range []struct{ field, v string }{{"dpo_email", c.DPOEmail}, {"contact_email", c.ContactEmail}} {
		if e.v == "" {
			return fmt.Errorf("%s is empty: a recipient must be able to reach a person", e.field)
		}
		if a, err := mail.ParseAddress(e.v); err != nil || a.Address != e.v {
			return fmt.Errorf("%s %q is not a plain email address", e.field, e.v)
		}
	}
	if c.PrivacyURL != "" {
		u, err := url.Parse(c.PrivacyURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("privacy_url %q: want an absolute http(s) URL", c.PrivacyURL)
		}
	}
	return nil
}

func (lt *LangText) check() error {
	for _, s := range []struct{ field, v string }{
		{"title", lt.Title}, {"intro", lt.Intro}, {"contact_heading", lt.ContactHeading},
		{"controller_label", lt.ControllerLabel}, {"dpo_label", lt.DPOLabel}, {"rights", lt.Rights},
	} {
		if strings.TrimSpace(s.v) == "" {
			return fmt.Errorf("%s is empty", s.field)
		}
	}
	if len(lt.Sections) == 0 {
		return fmt.Errorf("no section")
	}
	for i, s := range lt.Sections {
		if strings.TrimSpace(s.Heading) == "" || len(s.Paragraphs) == 0 {
			return fmt.Errorf("section %d: needs a heading and a paragraph", i+1)
		}
	}
	return nil
}

// The information text is rendered in two blocks, the title and intro above
// the choice and the details below it; together they are the text whose
// hash is kept as evidence. Texts are plain text (escaped): only these
// templates make markup, so a texts file cannot inject any.
var (
	headTemplate = template.Must(template.New("head").Parse(`<h1>{{.Title}}</h1>
<p class="intro">{{.Intro}}</p>
`))
	infoTemplate = template.Must(template.New("info").Parse(`{{range .Sections}}<h2>{{.Heading}}</h2>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{end}}<h2>{{.ContactHeading}}</h2>
<p>{{.ControllerLabel}}{{.Colon}} {{.C.Name}}{{if .C.Address}}, {{.C.Address}}{{end}}, <a href="mailto:{{.C.ContactEmail}}">{{.C.ContactEmail}}</a></p>
<p>{{.DPOLabel}}{{.Colon}} {{if .C.DPOName}}{{.C.DPOName}}, {{end}}<a href="mailto:{{.C.DPOEmail}}">{{.C.DPOEmail}}</a></p>
<p>{{.Rights}}</p>
{{if .C.PrivacyURL}}<p><a href="{{.C.PrivacyURL}}" rel="noreferrer">{{.PrivacyLink}}</a></p>
{{end}}`))
)

func renderInfo(c Controller, lang string, lt *LangText) (renderedText, error) {
	fill := strings.NewReplacer("{controller}", c.Name).Replace
	data := struct {
		LangText
		C     Controller
		Colon string
	}{*lt, c, uiText[lang].Colon}
	data.Title, data.Intro, data.Rights = fill(lt.Title), fill(lt.Intro), fill(lt.Rights)
	data.ContactHeading = fill(lt.ContactHeading)
	data.Sections = make([]Section, len(lt.Sections))
	for i, s := range lt.Sections {
		ps := make([]string, len(s.Paragraphs))
		for j, p := range s.Paragraphs {
			ps[j] = fill(p)
		}
		data.Sections[i] = Section{Heading: fill(s.Heading), Paragraphs: ps}
	}
	var head, info bytes.Buffer
	if err := headTemplate.Execute(&head, data); err != nil {
		return renderedText{}, fmt.Errorf("render information text: %w", err)
	}
	if err := infoTemplate.Execute(&info, data); err != nil {
		return renderedText{}, fmt.Errorf("render information text: %w", err)
	}
	h := sha256.New()
	h.Write(head.Bytes())
	h.Write(info.Bytes())
	return renderedText{
		title: data.Title,
		head:  template.HTML(head.String()),
		info:  template.HTML(info.String()),
		hash:  hex.EncodeToString(h.Sum(nil)),
	}, nil
}

// Current is the version shown on new pages.
func (t *Texts) Current() string { return t.current }

// Controller is the controller's details from the texts file.
func (t *Texts) Controller() Controller { return t.controller }

// Hash returns the hex SHA-256 of the information block of a version in a
// language as rendered in the page, and whether that version is known.
func (t *Texts) Hash(version, lang string) (string, bool) {
	rt, ok := t.rendered[textID{version, lang}]
	return rt.hash, ok
}

func (t *Texts) text(version, lang string) (renderedText, bool) {
	rt, ok := t.rendered[textID{version, lang}]
	return rt, ok
}

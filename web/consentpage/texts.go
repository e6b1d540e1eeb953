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
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

//go:embed texts/default.json
var defaultTexts []byte

// Languages the pages speak. The first is the fallback.
var languages = []string{"en", "fr"}

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
	Title           string    `json:"title"`
	Intro           string    `json:"intro"`
	Sections        []Section `json:"sections"`
	ContactHeading  string    `json:"contact_heading"`
	ControllerLabel string    `json:"controller_label"`
	DPOLabel        string    `json:"dpo_label"`
	Rights          string    `json:"rights"`
	PrivacyLink     string    `json:"privacy_link"`
}

// VersionText is one version of the information text in every language.
type VersionText struct {
	Version string    `json:"version"`
	EN      *LangText `json:"en"`
	FR      *LangText `json:"fr"`
}

// textsFile is the format of the texts file (see texts/default.json).
type textsFile struct {
	Controller Controller    `json:"controller"`
	Versions   []VersionText `json:"versions"`
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
// placeholders.
func DefaultTexts() (*Texts, error) {
	return ParseTexts(bytes.NewReader(defaultTexts))
}

// ParseTexts reads a texts file (JSON, see texts/default.json), checks it
// and renders every version in every language.
func ParseTexts(r io.Reader) (*Texts, error) {
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	var f textsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("read consent texts: %w", err)
	}
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
		for _, l := range languages {
			lt := v.lang(l)
			if lt == nil {
				return nil, fmt.Errorf("consent texts: version %s: no %q text", v.Version, l)
			}
			if err := lt.check(); err != nil {
				return nil, fmt.Errorf("consent texts: version %s, %s: %w", v.Version, l, err)
			}
			id := textID{v.Version, l}
			if _, dup := t.rendered[id]; dup {
				return nil, fmt.Errorf("consent texts: version %s given twice", v.Version)
			}
			rt, err := renderInfo(f.Controller, l, lt)
			if err != nil {
				return nil, fmt.Errorf("consent texts: version %s, %s: %w", v.Version, l, err)
			}
			t.rendered[id] = rt
		}
		t.current = v.Version
	}
	return t, nil
}

func (v VersionText) lang(l string) *LangText {
	if l == "fr" {
		return v.FR
	}
	return v.EN
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

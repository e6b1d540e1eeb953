package espapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// content is the part of a call pixelgate rewrites for each recipient:
// the HTML and the plain-text bodies. Everything else (attachments,
// inline images, headers, unknown fields) passes through untouched.
type content struct {
	html, text       string
	hasHTML, hasText bool
	// language is the call's Content-Language, if it set one: the footer
	// is written in it.
	language string
}

// compose builds the MIME message the rewrite engine reads: the same
// engine as for SMTP mail, so a recipient gets the same treatment through
// either front. Parts are declared "binary" (RFC 2045 §6.2: no line
// length limit, any octet), which the engine reads and writes as identity:
// every byte of an API body passes exactly, and no encoding is paid for
// on the way in or out. The message never leaves pixelgate, and names no
// recipient: the engine is told who the copy is for, and recipients
// without variables of their own share one message (proxy.Batch).
func compose(c content) ([]byte, error) {
	var buf bytes.Buffer
	var h mail.Header
	h.Set("MIME-Version", "1.0")
	if c.language != "" {
		h.Set("Content-Language", c.language)
	}
	h.SetContentType("multipart/alternative", nil)
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose message: %w", err)
	}
	part := func(typ, body string) error {
		var ph message.Header
		ph.SetContentType(typ, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "binary")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, body); err != nil {
			return err
		}
		return pw.Close()
	}
	if c.hasText {
		if err := part("text/plain", c.text); err != nil {
			return nil, fmt.Errorf("compose text part: %w", err)
		}
	}
	if c.hasHTML {
		if err := part("text/html", c.html); err != nil {
			return nil, fmt.Errorf("compose html part: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose message: %w", err)
	}
	return buf.Bytes(), nil
}

// extract reads the rewritten bodies back, decoded.
func extract(msg []byte, like content) (content, error) {
	out := content{hasHTML: like.hasHTML, hasText: like.hasText, language: like.language}
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		return out, fmt.Errorf("read rewritten message: %w", err)
	}
	mr := e.MultipartReader()
	if mr == nil {
		return out, errors.New("read rewritten message: not multipart")
	}
	var gotHTML, gotText bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("read rewritten part: %w", err)
		}
		typ, _, _ := p.Header.ContentType()
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return out, fmt.Errorf("read rewritten %s part: %w", typ, err)
		}
		switch typ {
		case "text/html":
			out.html, gotHTML = string(b), true
		case "text/plain":
			out.text, gotText = string(b), true
		}
	}
	if gotHTML != like.hasHTML || gotText != like.hasText {
		return out, errors.New("read rewritten message: a body went missing")
	}
	return out, nil
}

// contentLanguage is the language a call names in its custom headers.
func contentLanguage(headers map[string]string) string {
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Language") {
			return v
		}
	}
	return ""
}

// checkUTF8 refuses text that is not UTF-8: JSON decoders would silently
// replace the bad bytes, so the recipient would get altered text.
func checkUTF8(field, v string) error {
	if !utf8.ValidString(v) {
		return badRequest("not-utf8", field, field+" is not valid UTF-8")
	}
	return nil
}

// contentType reads a body part's media type as the ESPs name it
// ("text/html", "text/plain; charset=utf-8").
func contentType(v string) string {
	t, _, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return t
}

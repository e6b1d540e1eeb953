package espapi

import (
	"bytes"
	"errors"
	"mime/multipart"
	"testing"
)

// FuzzMailgunForm feeds the Mailgun parser arbitrary bodies: it must
// refuse with a request error or read a form that, written the way the
// front writes upstream bodies, reads back the same (so what reaches
// Mailgun is what was checked).
func FuzzMailgunForm(f *testing.F) {
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nAnn <a@example.org>, b@example.org\r\n--b\r\n"+
		"Content-Disposition: form-data; name=\"html\"\r\n\r\n<p>%recipient.x%</p>\r\n--b\r\n"+
		"Content-Disposition: form-data; name=\"attachment\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\xff\r\n--b--\r\n"))
	f.Add("application/x-www-form-urlencoded", []byte("from=a%40example.org&to=b%40example.org&text=hi+there&recipient-variables=%7B%22b%40example.org%22%3A%7B%22x%22%3A1%7D%7D"))
	f.Add("application/x-www-form-urlencoded", []byte("to=%zz&&=x"))
	f.Add("multipart/form-data; boundary=b", []byte("--b\r\nContent-Disposition: form-data; name=\"html\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=3D\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		form, err := parseMailgunForm(ct, body)
		var ae *apiError
		if err != nil {
			if !errors.As(err, &ae) || ae.status != 400 {
				t.Fatalf("refusal %v is not a request error", err)
			}
			return
		}
		for _, mime := range []bool{false, true} {
			if _, err := readMailgun(form, mime); err != nil && !errors.As(err, &ae) {
				t.Fatalf("readMailgun: %v is not a request error", err)
			}
		}
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, fl := range form.fields {
			if fl.file != nil {
				pw, err := mw.CreatePart(fl.file.header)
				if err != nil {
					t.Fatal(err)
				}
				pw.Write(fl.file.data)
				continue
			}
			if err := mw.WriteField(fl.name, fl.value); err != nil {
				t.Fatal(err)
			}
		}
		mw.Close()
		again, err := parseMailgunForm(mw.FormDataContentType(), b.Bytes())
		if err != nil {
			t.Fatalf("the form as written upstream does not read back: %v", err)
		}
		if !bytes.Equal(again.canonical(), form.canonical()) {
			t.Fatalf("the form as written upstream reads back differently:\n%q\n%q", form.canonical(), again.canonical())
		}
	})
}

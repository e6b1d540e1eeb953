package mailrewrite

import (
	"bytes"
	"testing"
)

// FuzzIndexRare: indexRare finds what bytes.Index finds, at the same place.
func FuzzIndexRare(f *testing.F) {
	for _, c := range [][2]string{
		{"<a href=\"https://pg.example/c/x\">", "https://pg.example/c/"},
		{"data-pixelgate=\"footer\" data-pixelgate=\"footer\"", `data-pixelgate="footer"`},
		{"aaaaaaaaab", "ab"},
		{"hhttp://", "http://"},
		{"", "x"},
		{"abc", ""},
		{"{{a}}", "{{a}}"},
		{"7777777777777777777777777777777777777777777777777777777777777777777x127.0.0.1:7", "127.0.0.1:7"},
	} {
		f.Add([]byte(c[0]), []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, s, needle []byte) {
		if got, want := indexRare(s, needle), bytes.Index(s, needle); got != want {
			t.Fatalf("indexRare(%q, %q) = %d, bytes.Index says %d", s, needle, got, want)
		}
	})
}

func BenchmarkIndexRare(b *testing.B) {
	html := bytes.Repeat([]byte(`<tr><td style="padding:16px 24px;background:#ffffff"><a href="https://click.shop.example/ls/click?upn=item-3Dfgh7Yt">`+
		`<img src="https://cdn.shop.example/products/1.jpg" width="180" height="180" alt="Product"></a></td></tr>`+"\r\n"), 300)
	for _, needle := range []string{"http://127.0.0.1:8080/c/", "https://pg.example.net/c/", footerMarker} {
		b.Run("bytes.Index/"+needle, func(b *testing.B) {
			for b.Loop() {
				bytes.Index(html, []byte(needle))
			}
		})
		b.Run("indexRare/"+needle, func(b *testing.B) {
			for b.Loop() {
				indexRare(html, []byte(needle))
			}
		})
	}
}

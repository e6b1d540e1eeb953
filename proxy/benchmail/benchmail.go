// Package benchmail makes the realistic campaign email that the relay's
// benchmark and load script send.
package benchmail

import (
	"bytes"
	"fmt"
	"strings"
)

// Campaign builds a realistic multipart/alternative campaign of about
// size bytes: table layout with inline styles, content images, tracked
// links, an ESP open pixel, and a text part.
func Campaign(size int) []byte {
	html, text := CampaignParts(size)
	var m bytes.Buffer
	m.WriteString("From: Shop <news@shop.example>\r\nTo: <reader@example.net>\r\nSubject: Spring sale: 30% off everything\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <bench@shop.example>\r\nX-Pixelgate-Campaign: bench-spring\r\n" +
		"List-Unsubscribe: <https://shop.example/unsubscribe>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"=_bench_boundary\"\r\n\r\n")
	m.WriteString("--=_bench_boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	m.WriteString(text)
	m.WriteString("--=_bench_boundary\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
	m.WriteString(html)
	m.WriteString("--=_bench_boundary--\r\n")
	return m.Bytes()
}

// CampaignParts are Campaign's HTML and text bodies, for senders that
// pass bodies rather than a message (ESP HTTP APIs).
func CampaignParts(size int) (html, text string) {
	var htmlB strings.Builder
	htmlB.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>td{font-family:Arial,sans-serif;font-size:14px;color:#333}</style></head>\r\n<body style=\"margin:0;padding:0;background:#f4f4f4\">\r\n")
	htmlB.WriteString("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" style=\"background:#f4f4f4\">\r\n")
	var textB strings.Builder
	for i := 0; htmlB.Len() < size-6000; i++ {
		fmt.Fprintf(&htmlB, "<tr><td style=\"padding:16px 24px;background:#ffffff;border-bottom:1px solid #eeeeee\">"+
			"<a href=\"https://click.shop.example/ls/click?upn=item%d-3Dfgh7Yt-2B4kq9\"><img src=\"https://cdn.shop.example/products/%d.jpg\" width=\"180\" height=\"180\" alt=\"Product %d\" style=\"display:block;border:0\"></a>\r\n"+
			"<p style=\"margin:8px 0;font-size:16px;font-weight:bold\">Product %d &mdash; now 30%% off</p>\r\n"+
			"<p style=\"margin:0 0 8px 0\">A short description of the product with enough words to look like a real newsletter paragraph, written once per item.</p>\r\n"+
			"<a href=\"https://click.shop.example/ls/click?upn=buy%d-3Dkq9\" style=\"background:#d33;color:#fff;padding:8px 16px;text-decoration:none\">Buy now</a></td></tr>\r\n", i, i, i, i, i)
		fmt.Fprintf(&textB, "Product %d - now 30%% off: https://shop.example/p/%d\r\n", i, i)
	}
	htmlB.WriteString("</table>\r\n<img src=\"https://u1234.ct.sendgrid.net/wf/open?upn=AbCdEf0123456789-2BxYz\" width=\"1\" height=\"1\" alt=\"\" style=\"height:1px!important;width:1px!important\">\r\n</body></html>\r\n")
	return htmlB.String(), textB.String()
}

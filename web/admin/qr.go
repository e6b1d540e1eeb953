package admin

import (
	"fmt"
	"html/template"
	"strings"

	"rsc.io/qr"
)

// qrQuiet is the quiet zone around a QR code, in modules (ISO/IEC 18004
// asks for 4).
const qrQuiet = 4

// qrSVG draws text as a QR code in inline SVG, so that enrolling two-step
// login is a scan with the phone's authenticator app. rsc.io/qr does the
// encoding (Reed-Solomon, masking: not worth writing again); the drawing is
// one path of unit squares, with no script and no external image (CSP).
func qrSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("encode QR code: %w", err)
	}
	n := code.Size + 2*qrQuiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" viewBox="0 0 %d %d" role="img" aria-label="QR code of the two-step login key" xmlns="http://www.w3.org/2000/svg">`, n, n)
	fmt.Fprintf(&b, `<rect class="qr-bg" width="%d" height="%d"/><path class="qr-fg" d="`, n, n)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+qrQuiet, y+qrQuiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}

package admin

import (
	"fmt"
	"strings"
	"testing"

	"rsc.io/qr"
)

func TestQRSVG(t *testing.T) {
	uri := "otpauth://totp/pixelgate:claire?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=pixelgate"
	svg, err := qrSVG(uri)
	if err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(string(svg)); err != nil {
		t.Fatal(err)
	}
	code, _ := qr.Encode(uri, qr.M)
	// Every dark module, and only those, is drawn, inside the quiet zone.
	var want strings.Builder
	dark := 0
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&want, "M%d %dh1v1h-1z", x+qrQuiet, y+qrQuiet)
				dark++
			}
		}
	}
	if !strings.Contains(string(svg), `d="`+want.String()+`"`) || dark == 0 {
		t.Error("the path does not draw exactly the code's dark modules")
	}
	if !strings.Contains(string(svg), fmt.Sprintf(`viewBox="0 0 %d %d"`, code.Size+8, code.Size+8)) {
		t.Error("no 4-module quiet zone")
	}
}

package factor

import (
	"testing"
)

// copiesFromScript makes copies of base that a fuzzer can steer: each
// script byte is an operation, its low two bits say which, the rest how
// many bytes, and the next byte where (scaled to the copy's length).
// 0 starts the next copy from base, 1 inserts the script's following bytes,
// 2 deletes, 3 replaces with the following bytes. It returns the copies
// (base first, at most 9) and the most operations any one copy got.
func copiesFromScript(base, script []byte) ([][]byte, int) {
	copies := [][]byte{base}
	cur := append([]byte(nil), base...)
	ops, most := 0, 0
	for i := 0; i < len(script) && len(copies) < 9; i++ {
		op := script[i]
		n := int(op>>2)%8 + 1
		if op&3 == 0 {
			copies, cur, ops = append(copies, cur), append([]byte(nil), base...), 0
			continue
		}
		p := 0
		if i+1 < len(script) {
			i++
			p = int(script[i]) * (len(cur) + 1) / 256
		}
		var ins []byte
		if op&3 != 2 {
			ins = script[min(i+1, len(script)):min(i+1+n, len(script))]
			i += len(ins)
		}
		e := p
		if op&3 != 1 {
			e = min(p+n, len(cur))
		}
		cur = append(cur[:p:p], append(append([]byte(nil), ins...), cur[e:]...)...)
		ops++
		most = max(most, ops)
	}
	if len(copies) < 9 {
		copies = append(copies, cur)
	}
	return copies, most
}

// FuzzFactor: whatever the copies and the limits, Factor either refuses or
// answers a template that rebuilds every copy exactly within the limits
// (factorChecked); copies a few small edits apart are never refused with
// generous limits, and identical copies never need a hole. Seeds in
// testdata/fuzz/FuzzFactor.
func FuzzFactor(f *testing.F) {
	f.Fuzz(func(t *testing.T, base, script []byte, maxHoles, maxValue uint16) {
		if len(base) > 1<<16 || len(script) > 1<<12 {
			return
		}
		copies, most := copiesFromScript(base, script)
		factorChecked(t, copies, Limits{MaxHoles: int(maxHoles), MaxValueBytes: int(maxValue)})

		_, _, ok := factorChecked(t, copies, generous)
		if most <= 3 && !ok {
			t.Fatalf("%d copies at most %d small edits from the first were refused with generous limits", len(copies), most)
		}
		same := make([][]byte, len(copies))
		for i := range same {
			same[i] = copies[len(copies)-1]
		}
		if tpl, _, ok := factorChecked(t, same, Limits{}); !ok || tpl.Holes() != 0 {
			t.Fatalf("identical copies: ok=%v, %d holes", ok, tpl.Holes())
		}
	})
}

package learn

// Difference is one resource or link whose URL is not the same in two
// recipients' copies of one email.
type Difference struct {
	Carrier string `json:"carrier"`
	// A and B are the URL in each copy; one is "" when the resource is in
	// one copy only (a personalised block).
	A string `json:"a,omitempty"`
	B string `json:"b,omitempty"`
	// Parts are the components whose values differ.
	Parts []Part `json:"parts,omitempty"`
	// PerRecipient: a differing value looks like an identifier in both
	// copies, which is what the learner would learn.
	PerRecipient bool `json:"per_recipient"`
}

// Diff aligns two copies of one email the way the learner does and returns
// what differs, in the order of b, then what only a has. URLs equal in both
// copies are not listed. It is what `pixelgate scan --pair` shows a
// marketing team checking its own templates.
func Diff(a, b []Resource) []Difference {
	ia, ib := analyseCopy(a), analyseCopy(b)
	type at struct {
		key string
		occ int
	}
	inA := make(map[at]int, len(ia))
	for i, it := range ia {
		inA[at{it.key, it.occ}] = i
	}
	paired := make([]bool, len(ia))
	var out []Difference
	for _, y := range ib {
		i, ok := inA[at{y.key, y.occ}]
		if !ok || ia[i].n != y.n {
			out = append(out, Difference{Carrier: y.res.Carrier, B: y.res.URL})
			continue
		}
		paired[i] = true
		x := ia[i]
		d := Difference{Carrier: y.res.Carrier, A: x.res.URL, B: y.res.URL}
		for k, v := range y.vals {
			if k >= len(x.vals) || x.vals[k].v == v.v {
				continue
			}
			d.Parts = append(d.Parts, v.part)
			if identifierLike(v.v) && identifierLike(x.vals[k].v) {
				d.PerRecipient = true
			}
		}
		if len(d.Parts) > 0 {
			out = append(out, d)
		}
	}
	for i, x := range ia {
		if !paired[i] {
			out = append(out, Difference{Carrier: x.res.Carrier, A: x.res.URL})
		}
	}
	return out
}

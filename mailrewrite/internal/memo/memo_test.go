package memo

import (
	"fmt"
	"testing"
)

// GetBytes answers as Get does, for keys in either generation, and keeps
// what it finds in the old generation.
func TestGetBytes(t *testing.T) {
	var m Memo[String, int]
	m.Put("https://cdn.example/a.png", 1)
	for i := range Limit { // push the first key into the previous generation
		m.Put(String(fmt.Sprintf("https://cdn.example/%d.png", i)), i)
	}
	if v, ok := GetBytes(&m, []byte("https://cdn.example/a.png")); !ok || v != 1 {
		t.Fatalf("GetBytes of an old key = %d %v", v, ok)
	}
	for i := range Limit { // a second push: only a key moved forward survives
		m.Put(String(fmt.Sprintf("https://img.example/%d.png", i)), i)
	}
	if v, ok := m.Get("https://cdn.example/a.png"); !ok || v != 1 {
		t.Fatalf("a key found by GetBytes was not kept: %d %v", v, ok)
	}
	if _, ok := GetBytes(&m, []byte("https://cdn.example/never.png")); ok {
		t.Fatal("GetBytes found a key never put")
	}
	if n := m.Len(); n > 2*Limit {
		t.Fatalf("memo holds %d keys, bound %d", n, 2*Limit)
	}
}

func BenchmarkGetBytes(b *testing.B) {
	var m Memo[String, int]
	key := []byte("https://click.shop.example/ls/click?upn=item42-3Dkq9")
	m.Put(String(key), 1)
	b.ReportAllocs()
	for b.Loop() {
		GetBytes(&m, key)
	}
}

package storetest

import (
	"slices"
	"time"
)

func testRecords(e *env) {
	r := e.st.SharedKV()
	if _, err := r.Get(e.ctx, "accounts", "alice"); !isNotFound(err) {
		e.t.Errorf("Get of a missing record: %v, want ErrNotFound", err)
	}
	e.must(r.Put(e.ctx, "accounts", "alice", []byte(`{"role":"admin"}`), 0))
	e.must(r.Put(e.ctx, "accounts", "bob", []byte("b"), 0))
	e.must(r.Put(e.ctx, "sessions", "alice", []byte("other namespace"), 0))
	got, err := r.Get(e.ctx, "accounts", "alice")
	e.must(err)
	if string(got) != `{"role":"admin"}` {
		e.t.Errorf("Get = %q", got)
	}
	e.must(r.Put(e.ctx, "accounts", "alice", []byte("v2"), 0))
	if got, _ := r.Get(e.ctx, "accounts", "alice"); string(got) != "v2" {
		e.t.Errorf("Put did not overwrite: %q", got)
	}
	ok, err := r.PutIfAbsent(e.ctx, "accounts", "alice", []byte("v3"), 0)
	e.must(err)
	if ok {
		e.t.Error("PutIfAbsent overwrote an existing record")
	}
	ok, err = r.PutIfAbsent(e.ctx, "accounts", "carol", []byte("c"), 0)
	e.must(err)
	if !ok {
		e.t.Error("PutIfAbsent refused a new record")
	}
	keys, err := r.List(e.ctx, "accounts")
	e.must(err)
	if !slices.Equal(keys, []string{"alice", "bob", "carol"}) {
		e.t.Errorf("List = %v, want sorted [alice bob carol]", keys)
	}
	e.must(r.Delete(e.ctx, "accounts", "bob"))
	e.must(r.Delete(e.ctx, "accounts", "nobody"))
	if _, err := r.Get(e.ctx, "accounts", "bob"); !isNotFound(err) {
		e.t.Errorf("deleted record: %v", err)
	}
	if got, _ := r.Get(e.ctx, "sessions", "alice"); string(got) != "other namespace" {
		e.t.Errorf("namespaces are not separate: %q", got)
	}
	if keys, _ := r.List(e.ctx, "empty"); len(keys) != 0 {
		e.t.Errorf("List of an empty namespace: %v", keys)
	}
	n, err := r.Incr(e.ctx, "throttle", "ip:127.0.0.1", 1, 0)
	e.must(err)
	if n != 1 {
		e.t.Errorf("first Incr = %d", n)
	}
	n, err = r.Incr(e.ctx, "throttle", "ip:127.0.0.1", 5, 0)
	e.must(err)
	if n != 6 {
		e.t.Errorf("second Incr = %d, want 6", n)
	}
	n, _ = r.Incr(e.ctx, "throttle", "ip:127.0.0.1", -2, 0)
	if n != 4 {
		e.t.Errorf("Incr by -2 = %d, want 4", n)
	}
	// Binary and empty values survive.
	e.must(r.Put(e.ctx, "bin", "k", []byte{0, 255, '\n', 0}, 0))
	if got, _ := r.Get(e.ctx, "bin", "k"); !slices.Equal(got, []byte{0, 255, '\n', 0}) {
		e.t.Errorf("binary value changed: %v", got)
	}
	e.must(r.Put(e.ctx, "bin", "empty", nil, 0))
	if got, err := r.Get(e.ctx, "bin", "empty"); err != nil || len(got) != 0 {
		e.t.Errorf("empty value: %q %v", got, err)
	}
}

func testRecordsExpiry(e *env) {
	r := e.st.SharedKV()
	e.must(r.Put(e.ctx, "sessions", "s1", []byte("x"), time.Hour))
	e.must(r.Put(e.ctx, "sessions", "s2", []byte("y"), 3*time.Hour))
	_, err := r.Incr(e.ctx, "throttle", "login:alice", 1, time.Hour)
	e.must(err)
	e.clock.Advance(50 * time.Minute)
	if _, err := r.Get(e.ctx, "sessions", "s1"); err != nil {
		e.t.Errorf("record gone before its ttl: %v", err)
	}
	// Incr never extends the ttl set at creation.
	n, err := r.Incr(e.ctx, "throttle", "login:alice", 1, time.Hour)
	e.must(err)
	if n != 2 {
		e.t.Errorf("Incr within ttl = %d, want 2", n)
	}
	ok, err := r.PutIfAbsent(e.ctx, "sessions", "s1", []byte("z"), time.Hour)
	e.must(err)
	if ok {
		e.t.Error("PutIfAbsent replaced a live record")
	}
	e.clock.Advance(20 * time.Minute)
	if _, err := r.Get(e.ctx, "sessions", "s1"); !isNotFound(err) {
		e.t.Errorf("expired record: %v, want ErrNotFound", err)
	}
	keys, err := r.List(e.ctx, "sessions")
	e.must(err)
	if !slices.Equal(keys, []string{"s2"}) {
		e.t.Errorf("List after expiry = %v, want [s2]", keys)
	}
	n, err = r.Incr(e.ctx, "throttle", "login:alice", 1, time.Hour)
	e.must(err)
	if n != 1 {
		e.t.Errorf("Incr after the counter expired = %d, want a fresh 1", n)
	}
	ok, err = r.PutIfAbsent(e.ctx, "sessions", "s1", []byte("new"), 0)
	e.must(err)
	if !ok {
		e.t.Error("PutIfAbsent refused to replace an expired record")
	}
	e.purge()
	if got, err := r.Get(e.ctx, "sessions", "s1"); err != nil || string(got) != "new" {
		e.t.Errorf("record without ttl after purge: %q %v", got, err)
	}
	// Put without ttl clears an earlier ttl.
	e.must(r.Put(e.ctx, "sessions", "s2", []byte("kept"), 0))
	e.clock.Advance(10 * time.Hour)
	if got, err := r.Get(e.ctx, "sessions", "s2"); err != nil || string(got) != "kept" {
		e.t.Errorf("Put without ttl kept the old ttl: %q %v", got, err)
	}
}

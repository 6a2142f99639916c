package structs

import (
	"bytes"
	"errors"
	"fmt"
	"net/rpc"
	"strings"
	"sync"
	"testing"
)

func TestEncodeLimited(t *testing.T) {
	h := NewMsgpackHandle()
	msg := &KVSRequest{Datacenter: "dc1", Op: KVSSet, DirEnt: DirEntry{Key: "k", Value: []byte(strings.Repeat("v", 1000))}}
	full, err := Encode(h, KVSRequestType, msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeLimited(h, KVSRequestType, msg, len(full))
	if err != nil || string(got) != string(full) {
		t.Fatalf("at the limit: %d bytes, %v; want the %d bytes of Encode", len(got), err, len(full))
	}
	_, err = EncodeLimited(h, KVSRequestType, msg, len(full)-1)
	if !errors.Is(err, ErrRequestTooLarge) || !strings.HasPrefix(err.Error(), "Request too large: ") {
		t.Fatalf("one byte over the limit: %v, want Request too large", err)
	}
}

// TestEntryEncoder: reusing encoders gives, entry after entry and from
// several goroutines at once, the bytes of Encode, refuses an entry over
// the limit as EncodeLimited does, and an encoder that was cut short by
// the limit does not spoil the next entry.
func TestEntryEncoder(t *testing.T) {
	h := NewMsgpackHandle()
	e := NewEntryEncoder(h)
	msgs := []any{
		&KVSRequest{Datacenter: "dc1", Op: KVSSet, DirEnt: DirEntry{Key: "k", Value: []byte(strings.Repeat("v", 1000))}},
		&RegisterRequest{Datacenter: "dc1", Node: "n1", Address: "10.0.0.1", NodeMeta: map[string]string{"a": "b"}},
		&KVSRequest{Datacenter: "dc2", Op: KVSDelete, DirEnt: DirEntry{Key: "other"}},
	}
	want := make([][]byte, len(msgs))
	for i, m := range msgs {
		var err error
		if want[i], err = Encode(h, KVSRequestType, m); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.Encode(KVSRequestType, msgs[0], len(want[0])-1)
	if !errors.Is(err, ErrRequestTooLarge) || !strings.HasPrefix(err.Error(), "Request too large: ") {
		t.Fatalf("one byte over the limit: %v, want Request too large", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 200; n++ {
				i := (g + n) % len(msgs)
				got, err := e.Encode(KVSRequestType, msgs[i], len(want[i]))
				if err != nil || !bytes.Equal(got, want[i]) {
					errs <- fmt.Errorf("entry %d: %d bytes, %v; want the %d bytes of Encode", i, len(got), err, len(want[i]))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIsTooLarge(t *testing.T) {
	wrapped := fmt.Errorf("%w: a Register entry is larger than the limit of 4 bytes", ErrRequestTooLarge)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"the sentinel wrapped", wrapped, true},
		{"its text after an RPC", rpc.ServerError(wrapped.Error()), true},
		{"that text wrapped by the caller", fmt.Errorf("rpc Catalog.Register to 127.0.0.1:8300: %w", rpc.ServerError(wrapped.Error())), true},
		{"another error", errors.New("missing node name"), false},
		{"the words inside another sentence", errors.New("invalid value: Request too large: no"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTooLarge(tc.err); got != tc.want {
				t.Fatalf("IsTooLarge(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

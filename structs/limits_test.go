package structs

import (
	"errors"
	"fmt"
	"net/rpc"
	"strings"
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

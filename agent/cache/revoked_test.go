package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRevokedEntriesAreDropped: a fetch error that Revoked calls a lost
// right (an ACL refusal) drops the entry: a refreshed entry is not served
// "fail static" and a simple one not stale-if-error, and the refresh stops.
func TestRevokedEntriesAreDropped(t *testing.T) {
	errRevoked := errors.New("ACL not found")
	c := New(Config{RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond,
		Revoked: func(err error) bool { return err.Error() == errRevoked.Error() }})
	defer c.Close()
	ctx := context.Background()

	refreshed := newSource("v1")
	if _, _, err := c.Get(ctx, "r", Options{Refresh: true}, refreshed.fetch); err != nil {
		t.Fatal(err)
	}
	refreshed.fail(errRevoked)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, meta, err := c.Get(ctx, "r", Options{Refresh: true}, refreshed.fetch)
		if errors.Is(err, errRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refreshed entry after its token was revoked: %q hit %v, %v", v, meta.Hit, err)
		}
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().Entries; n != 0 {
		t.Fatalf("%d entries after the revoked read; want 0", n)
	}

	simple := newSource("v1")
	if _, _, err := c.Get(ctx, "s", Options{}, simple.fetch); err != nil {
		t.Fatal(err)
	}
	simple.fail(errRevoked)
	v, meta, err := c.Get(ctx, "s", Options{MustRevalidate: true, StaleIfError: time.Hour}, simple.fetch)
	if !errors.Is(err, errRevoked) {
		t.Fatalf("simple entry, stale-if-error, after its token was revoked: %q hit %v, %v", v, meta.Hit, err)
	}
	// Other errors still serve the stale answer.
	other := newSource("v1")
	if _, _, err := c.Get(ctx, "o", Options{}, other.fetch); err != nil {
		t.Fatal(err)
	}
	other.fail(errors.New("no servers"))
	if v, _, err := c.Get(ctx, "o", Options{MustRevalidate: true, StaleIfError: time.Hour}, other.fetch); err != nil || string(v) != "v1" {
		t.Fatalf("stale-if-error on another error: %q, %v", v, err)
	}
}

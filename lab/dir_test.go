package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClaimDir(t *testing.T) {
	t.Run("a directory holding something else is refused", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
		l := &Lab{cfg: Config{Dir: dir}}
		err := l.claimDir()
		if err == nil || !strings.Contains(err.Error(), "holds notes.txt and is not a lab's directory") {
			t.Fatalf("got %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
			t.Errorf("the user's file is gone: %v", err)
		}
	})
	t.Run("a directory in use by a running lab is refused", func(t *testing.T) {
		dir := t.TempDir()
		held, err := lockFile(filepath.Join(dir, LockFile))
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		if !Running(dir) {
			t.Error("Running = false while the lock is held")
		}
		l := &Lab{cfg: Config{Dir: dir}}
		err = l.claimDir()
		if err == nil || !strings.Contains(err.Error(), "is in use by a running lab") || !strings.Contains(err.Error(), "lab down -dir") {
			t.Fatalf("got %v", err)
		}
		if _, err := Call(dir, Request{Op: "status"}); err == nil {
			t.Error("status reached a lab that has no socket")
		}
	})
	t.Run("a stopped lab's directory is reused and its datacenters cleared", func(t *testing.T) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "dc1", "dc1-s1"), 0o700)
		os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"pid": 1, "plan": {"dcs": []}}`), 0o600)
		l := &Lab{cfg: Config{Dir: dir}}
		if err := l.claimDir(); err != nil {
			t.Fatal(err)
		}
		defer l.lock.Close()
		if _, err := os.Stat(filepath.Join(dir, "dc1")); !os.IsNotExist(err) {
			t.Errorf("the previous lab's dc1 is still there: %v", err)
		}
	})
	t.Run("no lab running", func(t *testing.T) {
		dir := t.TempDir()
		if Running(dir) {
			t.Error("Running in an empty directory")
		}
		_, err := Call(dir, Request{Op: "status"})
		if err == nil || !strings.Contains(err.Error(), "no lab is running in "+dir) {
			t.Errorf("Call: %v", err)
		}
		lines, err := Down(dir, time.Second)
		if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "No lab is running") {
			t.Errorf("Down: %v %v", lines, err)
		}
	})
}

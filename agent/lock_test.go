package agent

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// lockResult is what a contender goroutine reports once it holds a lock.
type lockResult struct {
	lost <-chan struct{}
	at   time.Time
	err  error
}

// contend calls lock in a goroutine the test owns: stop aborts it.
func contend(t *testing.T, lock func(stop <-chan struct{}) (<-chan struct{}, error)) (<-chan lockResult, chan struct{}) {
	t.Helper()
	stop := make(chan struct{})
	out := make(chan lockResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lost, err := lock(stop)
		out <- lockResult{lost: lost, at: time.Now(), err: err}
	}()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() { close(stop) })
		wg.Wait()
	})
	return out, stop
}

func waitHeld(t *testing.T, what string, ch <-chan lockResult, timeout time.Duration) lockResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil || r.lost == nil {
			t.Fatalf("%s: lost channel %v, err %v", what, r.lost, r.err)
		}
		return r
	case <-time.After(timeout):
		t.Fatalf("%s: not acquired within %s", what, timeout)
	}
	return lockResult{}
}

func notHeld(t *testing.T, what string, ch <-chan lockResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s acquired while another holds it: %+v", what, r)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestLockTwoContenders: with the api's Lock helper, one of two contenders
// wins, and the other gets the lock when the first unlocks.
func TestLockTwoContenders(t *testing.T) {
	a := startKVServer(t)
	opts := func() *api.LockOptions {
		return &api.LockOptions{Key: "locks/two", LockWaitTime: time.Second, Value: []byte("holder")}
	}
	l1, err := a.Client.LockOpts(opts())
	if err != nil {
		t.Fatal(err)
	}
	l2, err := a.Client.LockOpts(opts())
	if err != nil {
		t.Fatal(err)
	}
	first, _ := contend(t, l1.Lock)
	r1 := waitHeld(t, "first contender", first, 10*time.Second)
	second, _ := contend(t, l2.Lock)
	notHeld(t, "second contender", second)

	p := mustGet(t, a.Client.KV(), "locks/two")
	if p == nil || p.Session == "" || p.Flags != api.LockFlagValue || string(p.Value) != "holder" {
		t.Fatalf("lock key while held = %+v", p)
	}
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r1.lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the first holder's channel stayed open after Unlock")
	}
	r2 := waitHeld(t, "second contender after the unlock", second, 10*time.Second)
	if q := mustGet(t, a.Client.KV(), "locks/two"); q == nil || q.Session == p.Session || q.Session == "" || q.LockIndex != p.LockIndex+1 {
		t.Fatalf("lock key after the hand-over = %+v, before %+v", q, p)
	}
	// The key is in use, so it cannot be destroyed; after unlocking it can.
	if err := l1.Destroy(); err != api.ErrLockInUse {
		t.Fatalf("destroy of a lock in use = %v, want ErrLockInUse", err)
	}
	if err := l2.Unlock(); err != nil {
		t.Fatal(err)
	}
	<-r2.lost
	if err := l2.Destroy(); err != nil {
		t.Fatal(err)
	}
	if p := mustGet(t, a.Client.KV(), "locks/two"); p != nil {
		t.Fatalf("lock key after destroy = %+v", p)
	}
}

// TestLockHolderNodeKilled: the holder runs on a client agent that dies
// without leaving; its session is invalidated when the servers see the
// node fail, and the other contender gets the lock, but only after the
// lock delay.
func TestLockHolderNodeKilled(t *testing.T) {
	srv := startKVServer(t)
	cl := StartTestAgent(t)
	if err := cl.Client.Agent().Join(srv.LANAddr(), false); err != nil {
		t.Fatal(err)
	}
	waitForNode(t, srv.Client, cl.Name)

	const lockDelay = 1500 * time.Millisecond
	key := "locks/killed"
	// Under heavy load the fast test gossip can mark the live client
	// failed for a moment, which refuses its session or invalidates it at
	// once; such an attempt is retried once the node is healthy again.
	var held lockResult
	var sess *api.SessionEntry
	for attempt := 1; ; attempt++ {
		holder, err := cl.Client.LockOpts(&api.LockOptions{Key: key, LockDelay: lockDelay, LockWaitTime: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := contend(t, holder.Lock)
		var r lockResult
		select {
		case r = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("holder on the client: not acquired within 10s")
		}
		var problem string
		if r.err != nil || r.lost == nil {
			problem = fmt.Sprintf("lost channel %v, err %v", r.lost, r.err)
		} else if p := mustGet(t, srv.Client.KV(), key); p == nil || p.Session == "" {
			problem = fmt.Sprintf("lock key = %+v", p)
		} else if sess, _, err = srv.Client.Session().Info(p.Session, nil); err != nil || sess == nil || sess.Node != cl.Name {
			problem = fmt.Sprintf("holder's session = %+v, %v", sess, err)
		}
		if problem == "" {
			held = r
			break
		}
		if attempt == 3 || !strings.Contains(problem, "serfHealth") && !strings.Contains(problem, "Session:}") {
			t.Fatalf("holder on the client (attempt %d): %s", attempt, problem)
		}
		t.Logf("holder on the client (attempt %d): %s; the node flapped, retrying", attempt, problem)
		_ = holder.Unlock()
		waitForNode(t, srv.Client, cl.Name)
	}

	waiter, err := srv.Client.LockOpts(&api.LockOptions{Key: key, LockWaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waiting, _ := contend(t, waiter.Lock)
	notHeld(t, "contender on the server", waiting)

	// Kill the holder's agent: no leave, its session dies with its
	// serfHealth check. The kill time is taken before Shutdown: the agent
	// stops answering gossip as Shutdown begins, and under load Shutdown
	// itself can take longer than failure detection, so a time taken after
	// it could fall after the session's invalidation.
	killed := time.Now()
	cl.Shutdown()
	var released time.Time
	takenAlready := false
	WaitFor(t, "the dead holder's lock released", 20*time.Second, func() error {
		p, _, err := srv.Client.KV().Get(key, nil)
		if err != nil {
			return err
		}
		if p != nil && p.Session == sess.ID {
			return fmt.Errorf("key %+v", p)
		}
		released = time.Now()
		// On a loaded machine this poll may miss the free window and see
		// the contender holding the key already.
		takenAlready = p != nil && p.Session != ""
		return nil
	})
	if info, _, err := srv.Client.Session().Info(sess.ID, nil); err != nil || info != nil {
		t.Fatalf("holder's session after its node died = %+v, %v", info, err)
	}
	if takenAlready {
		r := waitHeld(t, "contender after the holder died", waiting, 20*time.Second)
		if took := r.at.Sub(killed); took < lockDelay {
			t.Fatalf("the contender took the lock %s after the kill, inside the %s lock delay", took, lockDelay)
		}
		t.Logf("contender took the lock %s after the holder's agent was killed", r.at.Sub(killed))
	} else {
		lockDelayHolds(t, srv, key, released, killed, lockDelay, waiting)
	}
	// The dead holder's helper notices it lost the lock (its agent is gone).
	select {
	case <-held.lost:
	case <-time.After(20 * time.Second):
		t.Fatal("the dead holder's lost channel stayed open")
	}
	if err := waiter.Unlock(); err != nil {
		t.Fatal(err)
	}
}

// lockDelayHolds checks, right after the dead holder's lock was released,
// that nobody may take the key within the lock delay and that the waiting
// contender gets it after.
func lockDelayHolds(t *testing.T, srv *TestAgent, key string, released, killed time.Time, lockDelay time.Duration, waiting <-chan lockResult) {
	t.Helper()
	// Within the lock delay nobody may take the key.
	other, _, err := srv.Client.Session().Create(&api.SessionEntry{Name: "probe", LockDelay: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := srv.Client.KV().Acquire(&api.KVPair{Key: key, Session: other, Flags: api.LockFlagValue}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok && time.Since(released) < lockDelay {
		t.Fatalf("a probe took the lock %s after the release, inside the lock delay", time.Since(released))
	}
	if _, err := srv.Client.Session().Destroy(other, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("lock released %s after the holder's agent was killed", released.Sub(killed))

	r := waitHeld(t, "contender after the holder died", waiting, 20*time.Second)
	t.Logf("contender took the lock %s after the release", r.at.Sub(released))
	if took := r.at.Sub(released); took < lockDelay-100*time.Millisecond {
		t.Fatalf("the lock was taken %s after the release, inside the %s lock delay", took, lockDelay)
	}
}

func first(ch <-chan lockResult, _ chan struct{}) <-chan lockResult { return ch }

// TestSemaphore: with the api's Semaphore helper and a limit of 2, two of
// three contenders hold it, and the third gets in when one releases.
func TestSemaphore(t *testing.T) {
	a := startKVServer(t)
	newSem := func() *api.Semaphore {
		s, err := a.Client.SemaphoreOpts(&api.SemaphoreOptions{Prefix: "sem/pool", Limit: 2, SemaphoreWaitTime: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, s2, s3 := newSem(), newSem(), newSem()
	r1 := waitHeld(t, "first slot", first(contend(t, s1.Acquire)), 10*time.Second)
	waitHeld(t, "second slot", first(contend(t, s2.Acquire)), 10*time.Second)
	third, _ := contend(t, s3.Acquire)
	notHeld(t, "third contender", third)

	pairs, _, err := a.Client.KV().List("sem/pool/", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Three contender keys (one per session) and the .lock key.
	if len(pairs) != 4 {
		t.Fatalf("semaphore keys = %d, want 4: %v", len(pairs), pairs)
	}
	if err := s1.Release(); err != nil {
		t.Fatal(err)
	}
	<-r1.lost
	waitHeld(t, "third contender after a release", third, 10*time.Second)
	if err := s2.Release(); err != nil {
		t.Fatal(err)
	}
	if err := s3.Release(); err != nil {
		t.Fatal(err)
	}
}

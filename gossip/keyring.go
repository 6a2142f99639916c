package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
	"github.com/meridian-sd/meridian/lib/fsutil"
)

// Keyring persistence.
//
// Keys are installed, made primary and removed on every member by serf's
// internal key queries (_serf_install-key, _serf_use-key, _serf_remove-key),
// which serf answers itself: the query never reaches the pool's event
// channel, and memberlist's keyring has no change callback. serf can write
// the keyring file from its query handler, but with a plain os.WriteFile: a
// crash in the middle leaves a torn or empty file, and the agent then
// refuses to start. So serf is given no keyring file; instead each pool
// watches its keyring and, whenever its keys or their order (the primary
// key comes first) differ from what was last written, writes the file with
// fsutil.WriteFileAtomic. It does so every KeyringSyncInterval, at
// shutdown, and when asked by a keyring sync query (KeyringSyncQuery): the
// server that runs a keyring operation sends one right after serf's key
// query has been acknowledged, and every member writes its file before it
// answers (ConfirmKeyring), so that an operation reported as done is on
// every member's disk, not only in its memory.

// KeyringSyncQuery is the name of the serf query that asks every member to
// write its keyring file now and answer once it has: an empty answer for
// success, else the error, at most maxKeyringSyncAnswer bytes.
const KeyringSyncQuery = "meridian-keyring-sync"

const maxKeyringSyncAnswer = 256

// DefaultKeyringSyncInterval is how often a pool compares its keyring with
// the keyring file.
const DefaultKeyringSyncInterval = 250 * time.Millisecond

// GenerateKey returns a new random 32-byte gossip key, base64 encoded, as
// `meridian keygen` prints it.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// DecodeKey checks and decodes a base64 gossip key.
func DecodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("encryption key is not valid base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("encryption key must be 16, 24 or 32 bytes, got %d", len(key))
}

// loadKeyring builds the keyring: from the keyring file when it exists (it
// holds rotations made since the first start; fromFile is then true),
// otherwise from key, which is then written to the file so later starts
// need no -encrypt. With neither, the keyring is nil.
func loadKeyring(file string, key []byte) (kr *memberlist.Keyring, fromFile bool, err error) {
	if file != "" {
		buf, err := os.ReadFile(file)
		switch {
		case err == nil:
			var encoded []string
			if err := json.Unmarshal(buf, &encoded); err != nil {
				return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
			}
			if len(encoded) == 0 {
				return nil, false, fmt.Errorf("read keyring %s: no keys", file)
			}
			keys := make([][]byte, 0, len(encoded))
			for _, e := range encoded {
				k, err := DecodeKey(e)
				if err != nil {
					return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
				}
				keys = append(keys, k)
			}
			kr, err := memberlist.NewKeyring(keys, keys[0])
			if err != nil {
				return nil, false, fmt.Errorf("read keyring %s: %w", file, err)
			}
			return kr, true, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, false, fmt.Errorf("read keyring: %w", err)
		}
	}
	if key == nil {
		return nil, false, nil
	}
	kr, err = memberlist.NewKeyring(nil, key)
	if err != nil {
		return nil, false, fmt.Errorf("build keyring: %w", err)
	}
	if file != "" {
		buf, _ := json.Marshal([]string{base64.StdEncoding.EncodeToString(key)})
		if err := fsutil.WriteFileAtomic(file, buf, 0o600); err != nil {
			return nil, false, fmt.Errorf("write keyring: %w", err)
		}
	}
	return kr, false, nil
}

// encodeKeyring is the keyring file's content: the keys in base64, the
// primary key first, as Consul's and serf's files.
func encodeKeyring(keys [][]byte) ([]byte, error) {
	encoded := make([]string, 0, len(keys))
	for _, k := range keys {
		encoded = append(encoded, base64.StdEncoding.EncodeToString(k))
	}
	buf, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode keyring: %w", err)
	}
	return buf, nil
}

// currentKeys copies the keyring's keys, primary first. memberlist hands
// out its own slice, which RemoveKey later shifts in place, so the pool
// keeps a copy of what it wrote rather than that slice.
func currentKeys(kr *memberlist.Keyring) [][]byte {
	keys := kr.GetKeys()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}

func sameKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// SyncKeyring writes the keyring file now if the keyring changed since it
// was last written. It does nothing for a pool without a keyring or
// without a data directory.
func (p *Pool) SyncKeyring() error {
	if p.keyringFile == "" || p.ml.Keyring == nil {
		return nil
	}
	p.keyringLock.Lock()
	defer p.keyringLock.Unlock()
	keys := currentKeys(p.ml.Keyring)
	if sameKeys(keys, p.keyringWritten) {
		return nil
	}
	buf, err := encodeKeyring(keys)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(p.keyringFile, buf, 0o600); err != nil {
		return fmt.Errorf("write keyring: %w", err)
	}
	p.keyringWritten = keys
	p.cfg.Logger.Info("keyring file updated", "pool", p.cfg.poolName(), "keys", len(keys))
	return nil
}

// keyringLoop persists keyring changes until Shutdown. A failure is logged
// when it first happens (not at every tick) and retried at every tick.
func (p *Pool) keyringLoop(interval time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-t.C:
		case <-p.done:
			return
		}
		err := p.SyncKeyring()
		switch {
		case err != nil && err.Error() != lastErr:
			p.cfg.Logger.Error("cannot persist the keyring; a restart would bring back the previous keys", "pool", p.cfg.poolName(), "error", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			lastErr = ""
		}
	}
}

// PrimaryKey is the key the pool encrypts with; nil without encryption.
func (p *Pool) PrimaryKey() []byte {
	if p.ml.Keyring == nil {
		return nil
	}
	return p.ml.Keyring.GetPrimaryKey()
}

// answerKeyringSync writes the keyring file and answers the query.
func (p *Pool) answerKeyringSync(q *serf.Query) {
	var answer []byte
	if err := p.SyncKeyring(); err != nil {
		answer = []byte(err.Error())
		if len(answer) > maxKeyringSyncAnswer {
			answer = answer[:maxKeyringSyncAnswer]
		}
		p.cfg.Logger.Error("cannot persist the keyring", "pool", p.cfg.poolName(), "error", err)
	}
	if err := q.Respond(answer); err != nil {
		p.cfg.Logger.Debug("answer keyring sync query", "pool", p.cfg.poolName(), "error", err)
	}
}

// maxKeyringSyncFailures bounds the failures ConfirmKeyring keeps.
const maxKeyringSyncFailures = 64

// KeyringConfirmation is the outcome of ConfirmKeyring.
type KeyringConfirmation struct {
	// Expected is how many members the pool had when the query went out;
	// Answered how many answered, Failures those (at most 64) that could
	// not write their file, with their error, by member name.
	Expected, Answered int
	Failures           map[string]string
}

// RetryMissingAnswers runs a serf key operation (install, use, remove or
// list) again, keyringSyncAttempts times in all, while members are
// missing from its answers and none reported a failure: a query travels by
// gossip and a member can miss it. Every key operation is idempotent, so
// a member that did answer takes the repeat as a no-op.
func RetryMissingAnswers(op func() (*serf.KeyResponse, error)) (*serf.KeyResponse, error) {
	var r *serf.KeyResponse
	var err error
	for attempt := 0; attempt < keyringSyncAttempts; attempt++ {
		r, err = op()
		if err == nil || r == nil || r.NumErr != 0 || r.NumResp >= r.NumNodes {
			return r, err
		}
	}
	return r, err
}

// keyringSyncAttempts is how many times ConfirmKeyring sends its query
// while members are missing from the answers: a query travels by gossip,
// and a busy member can miss it or answer after the timeout.
const keyringSyncAttempts = 3

// ConfirmKeyring asks every member of the pool, this one included, to
// write its keyring file now, and waits until all have answered or the
// query times out (serf's default query timeout). While some members have
// not answered and none failed, the query is sent again (at most
// keyringSyncAttempts times in all); answers are counted once per member.
// relay is serf's relay factor for the answers.
func (p *Pool) ConfirmKeyring(relay uint8) (KeyringConfirmation, error) {
	c := KeyringConfirmation{Failures: map[string]string{}}
	params := p.serf.DefaultQueryParams()
	params.RelayFactor = relay
	c.Expected = p.serf.Memberlist().NumMembers()
	answered := make(map[string]bool, c.Expected)
	for attempt := 0; attempt < keyringSyncAttempts && len(answered) < c.Expected && len(c.Failures) == 0; attempt++ {
		resp, err := p.serf.Query(KeyringSyncQuery, nil, params)
		if err != nil {
			return c, fmt.Errorf("send keyring sync query: %w", err)
		}
		for r := range resp.ResponseCh() {
			if answered[r.From] {
				continue
			}
			answered[r.From] = true
			if len(r.Payload) > 0 && len(c.Failures) < maxKeyringSyncFailures {
				c.Failures[r.From] = string(r.Payload)
			}
			if len(answered) >= c.Expected {
				break
			}
		}
		resp.Close()
	}
	c.Answered = len(answered)
	return c, nil
}

package agent

// Persistence of API registrations: a service or check registered through
// the HTTP API is written to data_dir/services/<hash> or
// data_dir/checks/<hash> (one JSON file each, written atomically, named by
// the SHA-256 of its ID) and registered again when the agent starts, so a
// restarted agent keeps its registrations. TTL checks also keep their last
// status in data_dir/checks/state/<hash> until it would have expired.
// Config-file definitions are never written: the files are their record.
//
// A registration is saved before it is applied, and a deregistration
// removes its files before it is applied: when the data dir cannot be
// written, the API answers an error and the agent's services and checks
// stay as they were, so that what a restart brings back is always what
// the API last acknowledged. The files of one registration change
// together (persistTxn): a failure puts back the ones already changed.
// A TTL check's saved status is the exception: it only outlives a restart
// until it would have expired, so failing to save it is logged, not
// answered.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/meridian-sd/meridian/agent/config"
	"github.com/meridian-sd/meridian/lib/fsutil"
	"github.com/meridian-sd/meridian/structs"
)

// Directories under the data dir.
const (
	servicesDir   = "services"
	checksDir     = "checks"
	checkStateDir = "checks/state"
)

// persistedService is the file of an API-registered service; its checks
// have files of their own.
type persistedService struct {
	Service config.ServiceDefinition
	// Token is the ACL token the service was registered with, which its
	// syncs use; the file is readable by the agent's user only.
	Token string `json:",omitempty"`
}

// persistedCheck is the file of an API-registered check. Definition is nil
// for checks without a runner (maintenance checks).
type persistedCheck struct {
	Check      *structs.HealthCheck
	Definition *config.CheckDefinition `json:",omitempty"`
	// Token is the ACL token the check was registered with.
	Token string `json:",omitempty"`
}

// persistedCheckState is the saved status of a TTL check.
type persistedCheckState struct {
	CheckID string
	Status  string
	Output  string
	// Expires is when the status would have expired, in Unix nanoseconds.
	Expires int64
}

// fileName is the file name for an ID.
func fileName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// persist writes v as JSON under the data dir; nothing in -dev.
func (a *Agent) persist(dir, id string, v any) error {
	if a.svc.dataDir == "" {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", dir, id, err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(a.svc.dataDir, dir, fileName(id)), data, 0o600)
}

// persistTxn changes the files of one registration so that they can be
// put back as they were if a later one fails. Its methods do nothing in
// -dev (no data dir). Callers hold s.mu, so nothing else changes the
// files meanwhile.
type persistTxn struct {
	a *Agent
	// undo puts back, in reverse order, what each change replaced.
	undo []func() error
}

func (a *Agent) newPersistTxn() *persistTxn { return &persistTxn{a: a} }

// previous reads what path holds now, to put it back later.
func previous(path string) (data []byte, existed bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case err == nil:
		return data, true, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, false, nil
	}
	return nil, false, err
}

// restoreFile puts back what previous returned: the old content, or no
// file.
func restoreFile(path string, data []byte, existed bool) error {
	if existed {
		return fsutil.WriteFileAtomic(path, data, 0o600)
	}
	return removeFile(path)
}

// removeFile removes path durably (the directory is synced); a missing
// file is not an error.
func removeFile(path string) error {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

// write saves v as the file of id in dir.
func (t *persistTxn) write(dir, id string, v any) error {
	if t.a.svc.dataDir == "" {
		return nil
	}
	path := filepath.Join(t.a.svc.dataDir, dir, fileName(id))
	old, existed, err := previous(path)
	if err != nil {
		return err
	}
	if err := t.a.persist(dir, id, v); err != nil {
		return err
	}
	t.undo = append(t.undo, func() error { return restoreFile(path, old, existed) })
	return nil
}

// remove deletes the file of id in dir, if there is one.
func (t *persistTxn) remove(dir, id string) error {
	if t.a.svc.dataDir == "" {
		return nil
	}
	path := filepath.Join(t.a.svc.dataDir, dir, fileName(id))
	old, existed, err := previous(path)
	if err != nil || !existed {
		return err
	}
	if err := removeFile(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	t.undo = append(t.undo, func() error { return restoreFile(path, old, true) })
	return nil
}

// rollback puts back every file changed so far. A file that cannot be
// put back is logged: the data dir refused a write a moment ago, and may
// refuse this one too.
func (t *persistTxn) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		if err := t.undo[i](); err != nil {
			t.a.logger.Error("put back a saved registration file", "error", err)
		}
	}
	t.undo = nil
}

// forget removes the file of an ID, if any, where a failure only leaves a
// file that is harmless (it is logged): the files of an ID the config
// files define, which a restart removes, and a TTL check's saved status.
func (a *Agent) forget(dir, id string) {
	if a.svc.dataDir == "" {
		return
	}
	path := filepath.Join(a.svc.dataDir, dir, fileName(id))
	if err := removeFile(path); err != nil {
		a.logger.Warn("remove persisted file", "path", path, "error", err)
	}
}

// saveService saves an API-registered service (without its checks).
func (t *persistTxn) saveService(def *config.ServiceDefinition, token string) error {
	d := *def
	d.Checks = nil
	if err := t.write(servicesDir, d.ID, persistedService{Service: d, Token: token}); err != nil {
		return fmt.Errorf("save service %q in the data dir: %w", d.ID, err)
	}
	return nil
}

// saveCheck saves an API-registered check.
func (t *persistTxn) saveCheck(p *preparedCheck, token string) error {
	if err := t.write(checksDir, p.hc.CheckID, persistedCheck{Check: p.hc, Definition: p.def, Token: token}); err != nil {
		return fmt.Errorf("save check %q in the data dir: %w", p.hc.CheckID, err)
	}
	return nil
}

// dropService removes a service's saved file.
func (t *persistTxn) dropService(id string) error {
	if err := t.remove(servicesDir, id); err != nil {
		return fmt.Errorf("remove service %q from the data dir: %w", id, err)
	}
	return nil
}

// dropCheck removes a check's saved file.
func (t *persistTxn) dropCheck(id string) error {
	if err := t.remove(checksDir, id); err != nil {
		return fmt.Errorf("remove check %q from the data dir: %w", id, err)
	}
	return nil
}

func (a *Agent) forgetPersistedService(id string) { a.forget(servicesDir, id) }

// persistCheckState saves the status of a TTL check until it expires.
// Failures are logged: the status itself is set already.
func (a *Agent) persistCheckState(id, status, output string, ttl time.Duration) {
	st := persistedCheckState{CheckID: id, Status: status, Output: output, Expires: time.Now().Add(ttl).UnixNano()}
	if err := a.persist(checkStateDir, id, st); err != nil {
		a.logger.Warn("save check state", "check", id, "error", err)
	}
}

// loadCheckState returns the saved status of a TTL check, nil when there
// is none or it has expired.
func (a *Agent) loadCheckState(id string) *persistedCheckState {
	if a.svc.dataDir == "" {
		return nil
	}
	path := filepath.Join(a.svc.dataDir, checkStateDir, fileName(id))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var st persistedCheckState
	if err := json.Unmarshal(data, &st); err != nil || st.CheckID != id || !structs.ValidHealthStatus(st.Status) {
		a.logger.Warn("ignoring unreadable check state", "path", path)
		return nil
	}
	if time.Now().UnixNano() >= st.Expires {
		return nil
	}
	return &st
}

// readDir returns the regular files of a data dir subdirectory.
func (a *Agent) readDir(dir string) ([]string, error) {
	full := filepath.Join(a.svc.dataDir, dir)
	entries, err := os.ReadDir(full)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", full, err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name()[0] != '.' {
			out = append(out, filepath.Join(full, e.Name()))
		}
	}
	return out, nil
}

// restorePersisted registers again the services and checks kept in the
// data dir, unless the config files define the same IDs (the files win).
// A file that cannot be read or applied is logged and skipped.
func (a *Agent) restorePersisted() error {
	s := &a.svc
	if s.dataDir == "" {
		return nil
	}
	files, err := a.readDir(servicesDir)
	if err != nil {
		return err
	}
	for _, path := range files {
		var ps persistedService
		if err := readJSON(path, &ps); err != nil || ps.Service.ID == "" {
			a.logger.Warn("ignoring unreadable service file", "path", path, "error", err)
			continue
		}
		if a.fromConfig(ps.Service.ID, true) {
			os.Remove(path)
			continue
		}
		if err := a.addServiceToken(&ps.Service, sourceAPI, false, ps.Token); err != nil {
			a.logger.Warn("cannot restore service", "service", ps.Service.ID, "error", err)
		}
	}
	if files, err = a.readDir(checksDir); err != nil {
		return err
	}
	for _, path := range files {
		var pc persistedCheck
		if err := readJSON(path, &pc); err != nil || pc.Check == nil || pc.Check.CheckID == "" {
			a.logger.Warn("ignoring unreadable check file", "path", path, "error", err)
			continue
		}
		id := pc.Check.CheckID
		if a.fromConfig(id, false) {
			os.Remove(path)
			continue
		}
		if pc.Check.ServiceID != "" && s.state.Service(pc.Check.ServiceID) == nil {
			a.logger.Warn("dropping saved check of a service that is gone", "check", id, "service", pc.Check.ServiceID)
			a.forget(checksDir, id)
			a.forget(checkStateDir, id)
			continue
		}
		if pc.Definition != nil {
			err = a.addCheckToken(pc.Definition, sourceAPI, pc.Token)
		} else {
			s.mu.Lock()
			err = a.installCheckLocked(&preparedCheck{hc: pc.Check, token: pc.Token}, sourceAPI)
			s.mu.Unlock()
		}
		if err != nil {
			a.logger.Warn("cannot restore check", "check", id, "error", err)
		}
	}
	return nil
}

// readJSON decodes a file.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

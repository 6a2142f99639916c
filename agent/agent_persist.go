package agent

// Persistence of API registrations: a service or check registered through
// the HTTP API is written to data_dir/services/<hash> or
// data_dir/checks/<hash> (one JSON file each, written atomically, named by
// the SHA-256 of its ID) and registered again when the agent starts, so a
// restarted agent keeps its registrations. TTL checks also keep their last
// status in data_dir/checks/state/<hash> until it would have expired.
// Config-file definitions are never written: the files are their record.

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
}

// persistedCheck is the file of an API-registered check. Definition is nil
// for checks without a runner (maintenance checks).
type persistedCheck struct {
	Check      *structs.HealthCheck
	Definition *config.CheckDefinition `json:",omitempty"`
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

// forget removes the file of an ID, if any.
func (a *Agent) forget(dir, id string) {
	if a.svc.dataDir == "" {
		return
	}
	path := filepath.Join(a.svc.dataDir, dir, fileName(id))
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.logger.Warn("remove persisted file", "path", path, "error", err)
	}
}

// persistService writes an API-registered service (without its checks).
func (a *Agent) persistService(def *config.ServiceDefinition) error {
	d := *def
	d.Checks = nil
	return a.persist(servicesDir, d.ID, persistedService{Service: d})
}

// persistCheck writes an API-registered check.
func (a *Agent) persistCheck(p *preparedCheck) error {
	return a.persist(checksDir, p.hc.CheckID, persistedCheck{Check: p.hc, Definition: p.def})
}

func (a *Agent) forgetPersistedService(id string) { a.forget(servicesDir, id) }

func (a *Agent) forgetPersistedCheck(id string) {
	a.forget(checksDir, id)
	a.forget(checkStateDir, id)
}

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
		if err := a.addService(&ps.Service, sourceAPI, false); err != nil {
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
			a.forgetPersistedCheck(id)
			continue
		}
		if pc.Definition != nil {
			err = a.addCheck(pc.Definition, sourceAPI)
		} else {
			s.mu.Lock()
			err = a.installCheckLocked(&preparedCheck{hc: pc.Check}, sourceAPI)
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

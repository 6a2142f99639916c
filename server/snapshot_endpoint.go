package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/meridian-sd/meridian/acl"
	"github.com/meridian-sd/meridian/rpc"
	"github.com/meridian-sd/meridian/snapshot"
	"github.com/meridian-sd/meridian/structs"
)

// Snapshots
//
// A save asks Raft for a snapshot of the FSM (raft.Snapshot, the same
// point-in-time view Raft compacts its log with), wraps it with its
// metadata and checksums into an archive (package snapshot) in a file of
// the data dir, and streams that. A restore reads the whole archive into
// a file, checks its framing and checksums and decodes every record of
// the state; only then does the leader hand it to raft.Restore, which
// installs it on the leader, and makes the followers install it through
// Raft's InstallSnapshot as the log now starts after it. Nothing is
// replaced when any check fails.
//
// Both arrive on the server port as ProtoSnapshot streams (rpc/snapshot.go)
// or, from this server's own agent, in process; both go to the leader
// (a save with AllowStale is served here) and to another datacenter's
// servers as any request does. Both need a token with acl:write (a
// management token), as Consul's do: a snapshot holds every ACL token.

// maxSnapshotOps bounds the snapshot operations a server runs at once; a
// further one is refused at once.
const maxSnapshotOps = 4

// snapshotRestoreTimeout bounds raft.Restore and the write that follows.
const snapshotRestoreTimeout = 5 * time.Minute

// errTooManySnapshots refuses an operation past maxSnapshotOps.
var errTooManySnapshots = errors.New("too many snapshot operations are in progress on this server; try again later")

// snapshotTmpDir is where archives are spooled: data_dir/snapshot-tmp,
// or the system's temporary directory in dev mode.
func (s *Server) snapshotTmpDir() (string, error) {
	if s.config.DataDir == "" {
		return "", nil
	}
	dir := filepath.Join(s.config.DataDir, "snapshot-tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create snapshot directory: %w", err)
	}
	return dir, nil
}

// clearSnapshotTmp removes spooled archives a crash left behind.
func (s *Server) clearSnapshotTmp() {
	if s.config.DataDir == "" {
		return
	}
	if err := os.RemoveAll(filepath.Join(s.config.DataDir, "snapshot-tmp")); err != nil {
		s.logger.Warn("remove old snapshot files", "error", err)
	}
}

// SnapshotRPC serves a snapshot request: from this server's agent in
// process, or from the server port (rpc.SnapshotHandler). For a restore,
// in yields the archive, args.Size bytes. A save returns the archive,
// resp.Size bytes, which the caller must close.
func (s *Server) SnapshotRPC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	if !s.snapshotReady.Load() {
		return nil, nil, errors.New("the server is still starting")
	}
	if err := args.Validate(); err != nil {
		return nil, nil, err
	}
	if args.Op == structs.SnapshotRestore && args.Size > s.config.SnapshotMaxSize {
		return nil, nil, structs.NewError(structs.CodeTooLarge,
			"snapshot archive of %d bytes exceeds the limit of %d bytes", args.Size, s.config.SnapshotMaxSize)
	}
	select {
	case s.snapshotOps <- struct{}{}:
		defer func() { <-s.snapshotOps }()
	default:
		return nil, nil, errTooManySnapshots
	}

	if dc := args.Datacenter; dc != "" && dc != s.config.Datacenter {
		return s.forwardSnapshotDC(ctx, args, in)
	}
	if !args.AllowStaleRead() && !s.IsLeader() {
		return s.forwardSnapshotLeader(ctx, args, in)
	}
	return s.SnapshotRPCLocal(ctx, args, in)
}

// snapshotMeta fills in what the answering server knows of its leader.
func (s *Server) snapshotMeta(resp *structs.SnapshotResponse) {
	var q structs.QueryMeta
	s.setQueryMeta(&structs.QueryOptions{}, &q)
	resp.KnownLeader = q.KnownLeader
	resp.LastContact = q.LastContact
}

// snapshotSave takes a snapshot and spools it as an archive.
func (s *Server) snapshotSave(args *structs.SnapshotRequest) (*structs.SnapshotResponse, io.ReadCloser, error) {
	if !args.AllowStale {
		if err := s.waitReady(); err != nil {
			return nil, nil, err
		}
	}
	// Raft refuses a snapshot while a configuration change is not yet
	// committed: that is waited out, within RPCHoldTimeout.
	deadline := time.Now().Add(s.config.RPCHoldTimeout)
	var future raft.SnapshotFuture
	for {
		future = s.raft.Snapshot()
		err := s.await(future, "take snapshot")
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "cannot take snapshot now") || time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("take snapshot: %w", err)
		}
		select {
		case <-s.ctx.Done():
			return nil, nil, errShutdown
		case <-time.After(50 * time.Millisecond):
		}
	}
	meta, rc, err := future.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open snapshot: %w", err)
	}
	defer rc.Close()
	dir, err := s.snapshotTmpDir()
	if err != nil {
		return nil, nil, err
	}
	f, err := os.CreateTemp(dir, "save-*.tgz")
	if err != nil {
		return nil, nil, fmt.Errorf("create snapshot file: %w", err)
	}
	body := &tempFile{File: f}
	fail := func(err error) (*structs.SnapshotResponse, io.ReadCloser, error) {
		body.Close()
		return nil, nil, err
	}
	if err := snapshot.Write(f, meta, rc); err != nil {
		return fail(err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fail(fmt.Errorf("snapshot file size: %w", err))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("rewind snapshot file: %w", err))
	}
	resp := &structs.SnapshotResponse{Size: size, Index: meta.Index}
	s.snapshotMeta(resp)
	s.logger.Info("snapshot saved", "index", meta.Index, "term", meta.Term, "bytes", size)
	return resp, body, nil
}

// tempFile is a spooled file that is removed when closed.
type tempFile struct{ *os.File }

func (t *tempFile) Close() error {
	err := t.File.Close()
	if rmErr := os.Remove(t.Name()); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// snapshotRestore verifies the archive from in completely, then installs
// it through Raft.
func (s *Server) snapshotRestore(in io.Reader) (*structs.SnapshotResponse, error) {
	dir, err := s.snapshotTmpDir()
	if err != nil {
		return nil, err
	}
	arch, err := snapshot.Read(in, dir, s.config.SnapshotMaxSize)
	if err == nil {
		if err = arch.Verify(); err != nil {
			arch.Close()
		}
	}
	if err != nil {
		if errors.Is(err, snapshot.ErrInvalid) {
			return nil, structs.BadRequest("Snapshot not restored, nothing was changed: %v", err)
		}
		return nil, fmt.Errorf("snapshot not restored, nothing was changed: %w", err)
	}
	defer arch.Close()
	if !s.IsLeader() {
		return nil, structs.ErrNoLeader
	}
	s.logger.Warn("restoring snapshot: the state will be replaced", "id", arch.Meta.ID, "index", arch.Meta.Index, "term", arch.Meta.Term)
	if err := s.raftRestore(arch); err != nil {
		if errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrNotLeader) {
			// Restoring the same archive again is harmless.
			return nil, fmt.Errorf("restore snapshot: %w; the restore may or may not have taken effect: run it again", err)
		}
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	// The leader's own duties read the state: redo them on the new one.
	if err := s.await(s.raft.Barrier(snapshotRestoreTimeout), "barrier after restore"); err != nil {
		return nil, fmt.Errorf("barrier after snapshot restore: %w", err)
	}
	if err := s.initSessionTimers(); err != nil {
		s.logger.Error("restart session timers after snapshot restore", "error", err)
	}
	if err := s.initializeACLs(); err != nil {
		s.logger.Error("initialize ACLs after snapshot restore", "error", err)
	}
	// The restored catalog may lack this datacenter's live members (a
	// snapshot of another cluster): hand them all to the leader loop.
	for _, m := range s.serfLAN.Serf().Members() {
		s.reconcileMember(memberChange{member: m})
	}
	idx := s.raft.AppliedIndex()
	s.logger.Info("snapshot restored", "id", arch.Meta.ID, "snapshot_index", arch.Meta.Index, "index", idx)
	resp := &structs.SnapshotResponse{Index: idx}
	s.snapshotMeta(resp)
	return resp, nil
}

// raftRestore hands the archive to raft.Restore. Raft refuses a restore
// while a configuration change (a server joining or leaving, autopilot
// promoting one) is not yet committed; that is waited out, within
// RPCHoldTimeout, before the refusal is returned.
func (s *Server) raftRestore(arch *snapshot.Archive) error {
	deadline := time.Now().Add(s.config.RPCHoldTimeout)
	for {
		err := s.awaitFn(func() error { return s.raft.Restore(arch.Meta, arch.State, snapshotRestoreTimeout) }, "restore snapshot")
		if err == nil || !strings.Contains(err.Error(), "cannot restore snapshot now") || time.Now().After(deadline) {
			return err
		}
		if err := arch.Rewind(); err != nil {
			return err
		}
		select {
		case <-s.ctx.Done():
			return errShutdown
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// awaitFn runs fn, a blocking Raft call, and waits for it as await waits
// for a future.
func (s *Server) awaitFn(fn func() error, what string) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-s.ctx.Done():
		return errShutdown
	case <-time.After(snapshotRestoreTimeout + raftApplyWait):
		return fmt.Errorf("%s: no outcome after %s; it may or may not have taken effect", what, snapshotRestoreTimeout+raftApplyWait)
	}
}

// forwardSnapshotLeader sends the request to the leader, waiting for one
// within the hold timeout. Nothing of in is read before the leader's
// connection is open, so a failed dial can be retried.
func (s *Server) forwardSnapshotLeader(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	deadline := time.Now().Add(s.config.RPCHoldTimeout)
	for {
		if s.IsLeader() {
			return s.SnapshotRPCLocal(ctx, args, in)
		}
		if leader := s.raft.Leader(); leader != "" {
			addr, err := net.ResolveTCPAddr("tcp", string(leader))
			if err != nil {
				return nil, nil, fmt.Errorf("leader address %q: %w", leader, err)
			}
			resp, body, err := s.connPool.SnapshotRPC(ctx, s.config.Datacenter, addr, args, in)
			var ce *rpc.CallError
			if err == nil || !errors.As(err, &ce) || ce.Sent {
				return resp, body, err
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, structs.ErrNoLeader
		}
		wait := s.config.RPCHoldTimeout / 32
		wait += time.Duration(rand.Int64N(int64(wait) + 1))
		select {
		case <-s.ctx.Done():
			return nil, nil, errShutdown
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("snapshot: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// SnapshotRPCLocal is what SnapshotRPC does once the request has reached
// the server that answers it; forwardSnapshotLeader calls it when this
// server became the leader while it waited.
func (s *Server) SnapshotRPCLocal(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	if _, _, err := s.aclAuthorize(args.Token, acl.ResourceACL, "", acl.Write); err != nil {
		return nil, nil, err
	}
	if args.Op == structs.SnapshotSave {
		return s.snapshotSave(args)
	}
	resp, err := s.snapshotRestore(in)
	return resp, nil, err
}

// forwardSnapshotDC sends the request to a server of another datacenter,
// trying the next one while a server cannot be reached.
func (s *Server) forwardSnapshotDC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	dc := args.Datacenter
	// A save with AllowStale may come from any server; the rest need the
	// leader.
	needLeader := args.Op != structs.SnapshotSave || !args.AllowStale
	servers, ok := s.router.Route(dc, needLeader, s.wanCoordinate(), s.wanCoordinateOf)
	if !ok {
		return nil, nil, structs.ErrNoDCPath
	}
	if len(servers) == 0 {
		return nil, nil, structs.ErrDCNoServers
	}
	var lastErr error
	for _, srv := range servers {
		resp, body, err := s.connPool.SnapshotRPC(ctx, dc, srv.Addr, args, in)
		var ce *rpc.CallError
		if err == nil || !errors.As(err, &ce) {
			if structs.IsErr(err, structs.ErrNoLeader) {
				s.router.NoteNoLeader(dc, srv, err)
			} else {
				s.router.NoteResult(dc, srv, true, true, nil)
			}
			return resp, body, err
		}
		s.router.NoteResult(dc, srv, false, false, err)
		lastErr = err
		if ce.Sent || ctx.Err() != nil {
			return nil, nil, err
		}
	}
	s.logger.Warn("no server of remote datacenter answered a snapshot request", "dc", dc, "error", lastErr)
	return nil, nil, structs.ErrDCNoServers
}

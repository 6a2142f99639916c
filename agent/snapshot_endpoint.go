package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/meridian-sd/meridian/structs"
)

// snapshotRPC is a delegate that can carry snapshot streams: a server
// serves them in process, a client sends them to a server.
type snapshotRPC interface {
	SnapshotRPC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error)
}

// SnapshotRPC runs a snapshot save or restore (see server.SnapshotRPC).
// For a save the archive is returned; close it.
func (a *Agent) SnapshotRPC(ctx context.Context, args *structs.SnapshotRequest, in io.Reader) (*structs.SnapshotResponse, io.ReadCloser, error) {
	d, ok := a.delegate.(snapshotRPC)
	if !ok {
		return nil, nil, errors.New("agent is not started")
	}
	return d.SnapshotRPC(ctx, args, in)
}

// snapshotBodyLimit is PUT /v1/snapshot's cap: the handler streams the
// archive to a file itself.
func (a *Agent) snapshotBodyLimit() bodyLimit {
	return bodyLimit{bytes: a.httpLimits.MaxSnapshotSize, what: "Snapshot archive", stream: true}
}

// snapshotEndpoint serves GET /v1/snapshot (save: the archive is the
// body) and PUT /v1/snapshot (restore the archive in the body).
func (a *Agent) snapshotEndpoint(resp http.ResponseWriter, req *http.Request) (any, error) {
	args := &structs.SnapshotRequest{Datacenter: a.parseDC(req), Token: a.requestToken(req)}
	if req.Method == http.MethodGet {
		_, args.AllowStale = reqQuery(req)["stale"]
		args.Op = structs.SnapshotSave
		return a.snapshotSave(resp, req, args)
	}
	args.Op = structs.SnapshotRestore
	return nil, a.snapshotRestore(resp, req, args)
}

func (a *Agent) snapshotSave(resp http.ResponseWriter, req *http.Request, args *structs.SnapshotRequest) (any, error) {
	out, body, err := a.SnapshotRPC(req.Context(), args, nil)
	if err != nil {
		return nil, err
	}
	if body == nil {
		return nil, errors.New("the server answered a snapshot save without an archive")
	}
	defer body.Close()
	h := resp.Header()
	h.Set("X-Consul-Index", strconv.FormatUint(out.Index, 10))
	h.Set("X-Consul-KnownLeader", strconv.FormatBool(out.KnownLeader))
	h.Set("X-Consul-LastContact", strconv.FormatInt(out.LastContact.Milliseconds(), 10))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(out.Size, 10))
	resp.WriteHeader(http.StatusOK)
	if n, err := io.Copy(resp, body); err != nil {
		// The status is sent; the client sees a short body, which the
		// archive's framing and checksums reveal.
		a.logger.Warn("snapshot download broken off", "sent", n, "size", out.Size, "error", err)
	}
	return nil, nil
}

// snapshotRestore spools the body to a file within the size cap and the
// read timeout, then sends it to the servers. Nothing reaches a server
// before the whole body has arrived.
func (a *Agent) snapshotRestore(resp http.ResponseWriter, req *http.Request, args *structs.SnapshotRequest) error {
	lim := a.snapshotBodyLimit()
	rc := http.NewResponseController(resp)
	refuse := func(err error) error {
		resp.Header().Set("Connection", "close")
		_ = rc.SetReadDeadline(time.Unix(1, 0))
		return err
	}
	if req.ContentLength > lim.bytes {
		return refuse(errBodyTooLarge(lim))
	}
	f, err := os.CreateTemp(a.cfg().DataDir, "snapshot-restore-*.tgz")
	if err != nil {
		return fmt.Errorf("create snapshot file: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	_ = rc.SetReadDeadline(time.Now().Add(a.httpLimits.SnapshotReadTimeout))
	n, err := io.Copy(f, http.MaxBytesReader(resp, req.Body, lim.bytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return refuse(errBodyTooLarge(lim))
		case errors.Is(err, os.ErrDeadlineExceeded):
			return refuse(HTTPError{Code: http.StatusRequestTimeout,
				Reason: fmt.Sprintf("Snapshot archive not received within %s", a.httpLimits.SnapshotReadTimeout)})
		}
		return refuse(badRequest("Cannot read the snapshot archive: %v", err))
	}
	_ = rc.SetReadDeadline(time.Time{})
	if n == 0 {
		return badRequest("Snapshot archive missing: the request body is empty")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind snapshot file: %w", err)
	}
	args.Size = n
	_, body, err := a.SnapshotRPC(req.Context(), args, f)
	if body != nil {
		body.Close()
	}
	return err
}

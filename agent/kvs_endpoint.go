package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/meridian-sd/meridian/structs"
)

// KV HTTP API, as Consul's /v1/kv:
//
//	GET    /v1/kv/<key>                 one key as [{Key, Value(base64), ...}], 404 if missing
//	GET    /v1/kv/<key>?raw             the bare value
//	GET    /v1/kv/<prefix>?recurse      every key under prefix, 404 if none
//	GET    /v1/kv/<prefix>?keys         key names, cut after ?separator; [] at the root
//	PUT    /v1/kv/<key>                 body is the value; ?flags, ?cas, ?acquire, ?release
//	DELETE /v1/kv/<key>                 ?recurse, ?cas
//
// Reads are blocking queries (?index, ?wait) and take ?stale/?consistent.
// Writes answer true or false (for cas, acquire, release and a delete with
// cas). Bad input is HTTP 400 with a sentence; a value over
// limits.kv_max_value_size (default 512 KiB) is 413.

// kvsEndpoint serves /v1/kv/<key> for GET, PUT and DELETE.
func (a *Agent) kvsEndpoint(resp http.ResponseWriter, req *http.Request) (any, error) {
	key := strings.TrimPrefix(req.URL.Path, "/v1/kv/")
	switch req.Method {
	case http.MethodGet:
		if _, ok := reqQuery(req)["keys"]; ok {
			return a.kvsListKeys(resp, req, key)
		}
		return a.kvsGet(resp, req, key)
	case http.MethodPut, http.MethodPost:
		return a.kvsPut(resp, req, key)
	case http.MethodDelete:
		return a.kvsDelete(resp, req, key)
	}
	return nil, HTTPError{Code: http.StatusMethodNotAllowed, Reason: fmt.Sprintf("method %s not allowed", req.Method)}
}

func (a *Agent) kvsGet(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	q := reqQuery(req)
	_, recurse := q["recurse"]
	method := "KVS.Get"
	if recurse {
		method = "KVS.List"
	}
	build := func(_ *http.Request, dc string, args *structs.KeyRequest) error {
		args.Datacenter, args.Key = dc, key
		if !recurse && key == "" {
			return badRequest("Missing key name")
		}
		return nil
	}
	return readRPC(a, resp, req, method, build, func(_ *structs.KeyRequest, out *structs.IndexedDirEntries) (any, error) {
		if len(out.Entries) == 0 {
			resp.WriteHeader(http.StatusNotFound)
			return nil, nil
		}
		if _, raw := q["raw"]; raw && !recurse {
			// Plain text and no sniffing, so that a stored value cannot be
			// served as HTML, as Consul does.
			body := out.Entries[0].Value
			h := resp.Header()
			h.Set("Content-Type", "text/plain")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Length", strconv.Itoa(len(body)))
			resp.Write(body)
			return nil, nil
		}
		return out.Entries, nil
	})
}

func (a *Agent) kvsListKeys(resp http.ResponseWriter, req *http.Request, prefix string) (any, error) {
	q := reqQuery(req)
	// Consul still reads its historic misspelling.
	sep := q.Get("separator")
	if _, ok := q["separator"]; !ok {
		sep = q.Get("seperator")
	}
	build := func(_ *http.Request, dc string, args *structs.KeyListRequest) error {
		args.Datacenter, args.Prefix, args.Seperator = dc, prefix, sep
		return nil
	}
	return readRPC(a, resp, req, "KVS.ListKeys", build, func(_ *structs.KeyListRequest, out *structs.IndexedKeyList) (any, error) {
		// An empty store lists as [] at the root, 404 under a prefix, as Consul's.
		if len(out.Keys) == 0 && prefix != "" {
			resp.WriteHeader(http.StatusNotFound)
			return nil, nil
		}
		if out.Keys == nil {
			out.Keys = []string{}
		}
		return out.Keys, nil
	})
}

// parseUintParam reads a numeric query parameter.
func parseUintParam(req *http.Request, name string) (uint64, bool, error) {
	vals, ok := reqQuery(req)[name]
	if !ok {
		return 0, false, nil
	}
	v := ""
	if len(vals) > 0 {
		v = vals[0]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, true, badRequest("Invalid %s %q: must be a non-negative integer", name, v)
	}
	return n, true, nil
}

// conflictingParams refuses a request that names more than one of params,
// with Consul's text.
func conflictingParams(req *http.Request, params ...string) error {
	q := reqQuery(req)
	var found []string
	for _, p := range params {
		if _, ok := q[p]; ok {
			found = append(found, p)
		}
	}
	if len(found) > 1 {
		return badRequest("Conflicting flags: %s cannot be used together", strings.Join(found, ", "))
	}
	return nil
}

func (a *Agent) kvsPut(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	if err := conflictingParams(req, "cas", "acquire", "release"); err != nil {
		return nil, err
	}
	args := &structs.KVSRequest{Datacenter: a.parseDC(req), Op: structs.KVSSet, DirEnt: structs.DirEntry{Key: key}}
	q := reqQuery(req)
	flags, _, err := parseUintParam(req, "flags")
	if err != nil {
		return nil, err
	}
	args.DirEnt.Flags = flags
	if cas, ok, err := parseUintParam(req, "cas"); err != nil {
		return nil, err
	} else if ok {
		args.Op = structs.KVSCAS
		args.DirEnt.ModifyIndex = cas
	}
	if _, ok := q["acquire"]; ok {
		if q.Get("acquire") == "" {
			return nil, badRequest("Missing session: ?acquire needs a session ID")
		}
		args.Op = structs.KVSLock
		args.DirEnt.Session = q.Get("acquire")
	}
	if _, ok := q["release"]; ok {
		if q.Get("release") == "" {
			return nil, badRequest("Missing session: ?release needs a session ID")
		}
		args.Op = structs.KVSUnlock
		args.DirEnt.Session = q.Get("release")
	}
	// wrap has read the body within limits.kv_max_value_size (413 beyond).
	var buf bytes.Buffer
	if req.Body != nil {
		if _, err := io.Copy(&buf, req.Body); err != nil {
			return nil, badRequest("Cannot read the request body: %v", err)
		}
	}
	args.DirEnt.Value = buf.Bytes()
	var out bool
	if err := a.RPCContext(req.Context(), "KVS.Apply", args, &out); err != nil {
		return nil, kvsError(err)
	}
	if args.Op == structs.KVSSet {
		return true, nil
	}
	return out, nil
}

func (a *Agent) kvsDelete(resp http.ResponseWriter, req *http.Request, key string) (any, error) {
	if err := conflictingParams(req, "recurse", "cas"); err != nil {
		return nil, err
	}
	args := &structs.KVSRequest{Datacenter: a.parseDC(req), Op: structs.KVSDelete, DirEnt: structs.DirEntry{Key: key}}
	q := reqQuery(req)
	if _, ok := q["recurse"]; ok {
		args.Op = structs.KVSDeleteTree
	} else if key == "" {
		return nil, badRequest("Missing key name")
	}
	if cas, ok, err := parseUintParam(req, "cas"); err != nil {
		return nil, err
	} else if ok {
		args.Op = structs.KVSDeleteCAS
		args.DirEnt.ModifyIndex = cas
	}
	var out bool
	if err := a.RPCContext(req.Context(), "KVS.Apply", args, &out); err != nil {
		return nil, kvsError(err)
	}
	if args.Op == structs.KVSDeleteCAS {
		return out, nil
	}
	return true, nil
}

// kvsError turns a refused lock on an unknown session into a 400 that
// keeps Consul's "invalid session" text: Consul answers 500, which wrongly
// blames the server.
func kvsError(err error) error {
	if strings.HasPrefix(err.Error(), structs.ErrSessionNotFound.Error()) {
		return badRequest("%s", err.Error())
	}
	return err
}

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/meridian-sd/meridian/agent/cache"
	"github.com/meridian-sd/meridian/structs"
)

// Reads through the agent cache (?cached), as Consul's agent cache:
// endpoints that support it call cachedRPC in place of RPCContext. With
// ?cached the answer comes from agent/cache, keyed by the RPC method and
// its arguments (the caller's token and every filter included, the
// blocking index and wait left out), and carries X-Cache: HIT or MISS and
// Age; the request's Cache-Control header sets max-age, stale-if-error and
// must-revalidate. Without ?cached the read goes to the servers as before.

// readCache holds the agent's cache, made at the first cached read.
type readCache struct {
	mu     sync.Mutex
	c      *cache.Cache
	closed bool
}

// get returns the cache, making it if needed; nil after close.
func (r *readCache) get() *cache.Cache {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil && !r.closed {
		r.c = cache.New(cache.Config{Revoked: func(err error) bool {
			// A deleted token, or one whose rights shrank, reads
			// nothing more from the cache.
			// Errors that crossed an RPC hop keep only their text.
			text := err.Error()
			return strings.Contains(text, structs.ErrACLNotFound.Error()) || strings.Contains(text, structs.ErrPermissionDenied.Error())
		}})
	}
	return r.c
}

// close stops the cache's refreshes.
func (r *readCache) close() {
	r.mu.Lock()
	c := r.c
	r.closed = true
	r.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Cache is how an endpoint is cached.
type cacheKind int

const (
	// cacheSimple entries are fetched on a miss and when too old.
	cacheSimple cacheKind = iota
	// cacheRefresh entries follow the servers with a blocking query.
	cacheRefresh
)

// cachedRPC makes the read method(args) into reply, through the agent
// cache when the request asks for it with ?cached. args must be a pointer
// to a struct embedding structs.QueryOptions, reply one embedding
// structs.QueryMeta.
func (a *Agent) cachedRPC(resp http.ResponseWriter, req *http.Request, kind cacheKind, method string, args, reply any) error {
	if _, ok := reqQuery(req)["cached"]; !ok {
		return a.RPCContext(req.Context(), method, args, reply)
	}
	// The request's token goes in the arguments now, so that it is part
	// of the key and the fetches (which run outside the request) carry it.
	tokenFromContext(req.Context(), args)
	qo := queryOptionsOf(args)
	if qo.RequireConsistent {
		return badRequest("Cannot specify ?cached with ?consistent, conflicting semantics.")
	}
	opts, err := parseCacheControl(req.Header.Values("Cache-Control"))
	if err != nil {
		return err
	}
	opts.Refresh = kind == cacheRefresh
	opts.MinIndex, opts.Wait = qo.MinQueryIndex, qo.MaxQueryTime

	// The key is every argument but the blocking ones, hashed so that
	// tokens are not held in the clear.
	keyArgs := *qo
	qo.MinQueryIndex, qo.MaxQueryTime = 0, 0
	encodedArgs, err := json.Marshal(args)
	*qo = keyArgs
	if err != nil {
		return fmt.Errorf("cache key for %s: %w", method, err)
	}
	// The token goes in on its own too, so that no encoding detail can
	// ever let two tokens share an entry.
	sum := sha256.Sum256(append([]byte(method+"\x00"+keyArgs.Token+"\x00"), encodedArgs...))
	key := hex.EncodeToString(sum[:])

	argsType, replyType := reflect.TypeOf(args).Elem(), reflect.TypeOf(reply).Elem()
	fetch := func(ctx context.Context, minIndex uint64, wait time.Duration) ([]byte, uint64, error) {
		// Each fetch decodes its own arguments: the refresh and a reader's
		// own fetch may run at once.
		fargs := reflect.New(argsType).Interface()
		if err := json.Unmarshal(encodedArgs, fargs); err != nil {
			return nil, 0, fmt.Errorf("cache arguments for %s: %w", method, err)
		}
		fq := queryOptionsOf(fargs)
		fq.MinQueryIndex, fq.MaxQueryTime = minIndex, wait
		out := reflect.New(replyType).Interface()
		if err := a.RPCContext(ctx, method, fargs, out); err != nil {
			return nil, 0, err
		}
		var buf []byte
		if err := codec.NewEncoderBytes(&buf, structs.NewMsgpackHandle()).Encode(out); err != nil {
			return nil, 0, fmt.Errorf("cache answer of %s: %w", method, err)
		}
		return buf, queryMetaOf(out).Index, nil
	}
	c := a.readCache.get()
	if c == nil {
		return fmt.Errorf("agent is shutting down")
	}
	value, meta, err := c.Get(req.Context(), key, opts, fetch)
	if err != nil {
		return err
	}
	if err := structs.Decode(structs.NewMsgpackHandle(), value, reply); err != nil {
		return fmt.Errorf("cached answer of %s: %w", method, err)
	}
	h := resp.Header()
	if meta.Hit {
		h.Set("X-Cache", "HIT")
	} else {
		h.Set("X-Cache", "MISS")
	}
	h.Set("Age", strconv.FormatInt(int64(meta.Age/time.Second), 10))
	return nil
}

// parseCacheControl reads the request's Cache-Control directives that the
// cache honours; others are ignored, as HTTP caches do.
func parseCacheControl(values []string) (cache.Options, error) {
	var opts cache.Options
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			name, arg, _ := strings.Cut(d, "=")
			switch strings.ToLower(name) {
			case "max-age", "stale-if-error":
				secs, err := strconv.ParseUint(strings.Trim(arg, `"`), 10, 32)
				if err != nil {
					return opts, badRequest("Cache-Control: %s must be a whole number of seconds, not %q", name, arg)
				}
				if strings.ToLower(name) == "max-age" {
					opts.MaxAge = time.Duration(secs) * time.Second
					if secs == 0 {
						opts.MustRevalidate = true
					}
				} else {
					opts.StaleIfError = time.Duration(secs) * time.Second
				}
			case "must-revalidate", "no-cache":
				opts.MustRevalidate = true
			}
		}
	}
	return opts, nil
}

// queryOptionsOf returns the QueryOptions embedded in the struct args
// points to.
func queryOptionsOf(args any) *structs.QueryOptions {
	return reflect.ValueOf(args).Elem().FieldByName("QueryOptions").Addr().Interface().(*structs.QueryOptions)
}

// queryMetaOf returns the QueryMeta embedded in the struct reply points to.
func queryMetaOf(reply any) *structs.QueryMeta {
	return reflect.ValueOf(reply).Elem().FieldByName("QueryMeta").Addr().Interface().(*structs.QueryMeta)
}

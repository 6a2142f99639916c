package rpc

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"io"
	netrpc "net/rpc"
	"reflect"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/meridian-sd/meridian/structs"
)

// Dispatcher serves the server's RPC endpoints. It speaks net/rpc's wire
// format (a request header and an argument per call, a response header and a
// reply per answer, see the package comment), so every net/rpc client works
// with it, but calls the methods itself instead of through net/rpc's server,
// which gives every call:
//
//   - the endpoint's own argument type, decoded and then validated
//     (structs.Validator) before the method runs, so that no endpoint, and no
//     server a call is forwarded to, sees a malformed request;
//   - a recover: a method that panics fails that call only, with an error;
//     the panic is logged with its method and stack and counted (Panics);
//   - a context, cancelled when the stream or connection the call came on
//     ends (the caller hung up) or the server shuts down, so blocking
//     queries stop waiting for a caller that is gone;
//   - coded errors: an endpoint error carrying a structs.ErrorCode crosses
//     the wire with its code (structs.EncodeRPCError).
//
// Endpoint methods have the shape
//
//	func (e *Endpoint) Method(ctx context.Context, args *Args, reply *Reply) error
//
// where *Args implements structs.Validator, or Args is an empty struct.
type Dispatcher struct {
	logger hclog.Logger

	// mu guards methods: the server port may take calls while endpoints
	// are still being registered (they fail as unknown until then).
	mu      sync.RWMutex
	methods map[string]*method

	// maxCallsPerConn bounds the calls one connection or stream may have
	// running at once; further requests wait to be read.
	maxCallsPerConn int

	panics atomic.Uint64
	calls  atomic.Int64

	// observe, when set, is told of every call that arrived over the
	// network, once it is answered (for the rpc.* metrics).
	observe atomic.Pointer[CallObserver]

	// intercept, when set, runs around every call after validation (see
	// SetInterceptor); guarded by mu.
	intercept Interceptor
}

// Interceptor wraps every call, from the network or in-process, after its
// arguments were validated: it may refuse the call, hand next a context
// carrying per-call state, and change the reply after next returned (the
// server checks ACL permissions and filters answers with it). next runs
// the method; the interceptor must call it at most once.
type Interceptor func(ctx context.Context, method string, args, reply any, next func(context.Context) error) error

// SetInterceptor installs the interceptor every later call goes through;
// nil removes it.
func (d *Dispatcher) SetInterceptor(i Interceptor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.intercept = i
}

// CallObserver is told of a call served for a peer: its method, when it
// started and how it ended.
type CallObserver func(method string, start time.Time, err error)

// SetObserver makes fn hear of every call served for a peer from now on.
func (d *Dispatcher) SetObserver(fn CallObserver) { d.observe.Store(&fn) }

// method is one registered endpoint method.
type method struct {
	name      string
	rcvr      reflect.Value
	fn        reflect.Value
	argType   reflect.Type // the pointed-to type of the args parameter
	argIsPtr  bool
	replyType reflect.Type // the pointed-to type of the reply parameter
}

// DefaultMaxCallsPerConn is how many calls one connection or stream may have
// running at once. The connection pool sends one call per stream; a client
// speaking plain net/rpc may pipeline more, and waits beyond this.
const DefaultMaxCallsPerConn = 64

// NewDispatcher returns a dispatcher with no endpoints; a nil logger logs
// nowhere.
func NewDispatcher(logger hclog.Logger) *Dispatcher {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Dispatcher{logger: logger, methods: make(map[string]*method), maxCallsPerConn: DefaultMaxCallsPerConn}
}

var (
	typeOfContext   = reflect.TypeFor[context.Context]()
	typeOfError     = reflect.TypeFor[error]()
	typeOfValidator = reflect.TypeFor[structs.Validator]()
)

// Register adds every exported method of rcvr as "name.Method". It fails if
// a method does not have the endpoint shape (see Dispatcher), so that an
// endpoint cannot be added without validation.
func (d *Dispatcher) Register(name string, rcvr any) error {
	if !token.IsExported(name) {
		return fmt.Errorf("register endpoint %q: the name must be exported", name)
	}
	v := reflect.ValueOf(rcvr)
	t := v.Type()
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.NumMethod() == 0 {
		return fmt.Errorf("register endpoint %s: %s has no exported methods", name, t)
	}
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		full := name + "." + m.Name
		if _, dup := d.methods[full]; dup {
			return fmt.Errorf("register endpoint %s: method %s registered twice", name, full)
		}
		mt := m.Type // receiver first
		if mt.NumIn() != 4 || mt.In(1) != typeOfContext || mt.NumOut() != 1 || mt.Out(0) != typeOfError {
			return fmt.Errorf("register endpoint %s: %s must be func(context.Context, args, reply) error", name, full)
		}
		at, rt := mt.In(2), mt.In(3)
		if rt.Kind() != reflect.Pointer {
			return fmt.Errorf("register endpoint %s: %s: reply must be a pointer, not %s", name, full, rt)
		}
		argIsPtr := at.Kind() == reflect.Pointer
		base := at
		if argIsPtr {
			base = at.Elem()
		}
		emptyStruct := base.Kind() == reflect.Struct && base.NumField() == 0
		if !emptyStruct && !(argIsPtr && at.Implements(typeOfValidator)) {
			return fmt.Errorf("register endpoint %s: %s: args %s must implement structs.Validator", name, full, at)
		}
		d.methods[full] = &method{
			name: full, rcvr: v, fn: m.Func,
			argType: base, argIsPtr: argIsPtr, replyType: rt.Elem(),
		}
	}
	return nil
}

// MethodInfo describes a registered method, for tests that drive every
// endpoint.
type MethodInfo struct {
	// Name is the method's wire name, such as "Catalog.Register".
	Name string
	// Args is the argument's type (not a pointer).
	Args reflect.Type
	// Reply is the reply's type (not a pointer).
	Reply reflect.Type
}

// Methods lists the registered methods, sorted by name.
func (d *Dispatcher) Methods() []MethodInfo {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]MethodInfo, 0, len(d.methods))
	for _, m := range d.methods {
		out = append(out, MethodInfo{Name: m.name, Args: m.argType, Reply: m.replyType})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lookup finds a registered method.
func (d *Dispatcher) lookup(name string) (*method, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m, ok := d.methods[name]
	return m, ok
}

// Panics is how many calls have panicked since the dispatcher was made.
func (d *Dispatcher) Panics() uint64 { return d.panics.Load() }

// InFlight is how many calls are running now.
func (d *Dispatcher) InFlight() int64 { return d.calls.Load() }

// errUnknownMethod is returned for a method nobody registered, in net/rpc's
// words (clients written for net/rpc recognise it). It carries no code: it
// is not the fault of whoever made the request that led to the call.
func errUnknownMethod(name string) error {
	return fmt.Errorf("rpc: can't find method %s", name)
}

// Call runs one method in-process, with the same validation, recover and
// error handling as a call from the network but without encoding: args are
// copied shallowly (the endpoint may fill in defaults without touching the
// caller's value, though it shares the caller's slices, maps and pointed-to
// records) and the reply is copied back on success. The call ends early if
// ctx ends, as a remote call does when its caller hangs up.
func (d *Dispatcher) Call(ctx context.Context, name string, args, reply any) error {
	m, ok := d.lookup(name)
	if !ok {
		return errUnknownMethod(name)
	}
	argv := reflect.New(m.argType)
	if args != nil {
		src := reflect.ValueOf(args)
		for src.Kind() == reflect.Pointer && !src.IsNil() && src.Type() != m.argType {
			src = src.Elem()
		}
		if src.Kind() == reflect.Pointer && src.IsNil() {
			return structs.BadRequest("rpc %s: args are nil", name)
		}
		if src.Type() != m.argType {
			return fmt.Errorf("rpc %s: args are %T, the endpoint takes %s", name, args, m.argType)
		}
		argv.Elem().Set(src)
	}
	dst := reflect.ValueOf(reply)
	if dst.Kind() != reflect.Pointer || dst.IsNil() || dst.Type().Elem() != m.replyType {
		return fmt.Errorf("rpc %s: reply is %T, the endpoint answers *%s", name, reply, m.replyType)
	}
	replyv := reflect.New(m.replyType)
	if err := d.invoke(ctx, m, argv, replyv); err != nil {
		return err
	}
	dst.Elem().Set(replyv.Elem())
	return nil
}

// invoke validates the args and calls the method under a recover.
func (d *Dispatcher) invoke(ctx context.Context, m *method, argv, replyv reflect.Value) (err error) {
	if v, ok := argv.Interface().(structs.Validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	d.calls.Add(1)
	defer d.calls.Add(-1)
	defer func() {
		if r := recover(); r != nil {
			d.panics.Add(1)
			d.logger.Error("rpc method panicked; the call fails, the server goes on",
				"method", m.name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("rpc %s: internal error: the server failed to handle the request", m.name)
		}
	}()
	arg := argv
	if !m.argIsPtr {
		arg = argv.Elem()
	}
	call := func(ctx context.Context) error {
		out := m.fn.Call([]reflect.Value{m.rcvr, reflect.ValueOf(ctx), arg, replyv})
		if e := out[0].Interface(); e != nil {
			return e.(error)
		}
		return nil
	}
	d.mu.RLock()
	intercept := d.intercept
	d.mu.RUnlock()
	if intercept == nil {
		return call(ctx)
	}
	return intercept(ctx, m.name, argv.Interface(), replyv.Interface(), call)
}

// ServeCodec serves the calls that arrive on codec until the peer hangs up,
// sends something that cannot be read, or ctx ends; then it waits for the
// calls it started and closes the codec. Calls run concurrently, at most
// maxCallsPerConn at once; their context ends when ServeCodec stops
// reading, which is when the peer hung up.
func (d *Dispatcher) ServeCodec(ctx context.Context, codec netrpc.ServerCodec) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ctx, func() { _ = codec.Close() })
	var (
		wg      sync.WaitGroup
		sending sync.Mutex
		sem     = make(chan struct{}, d.maxCallsPerConn)
	)
	send := func(req *netrpc.Request, reply any, err error) {
		resp := &netrpc.Response{ServiceMethod: req.ServiceMethod, Seq: req.Seq}
		if err != nil {
			resp.Error = structs.EncodeRPCError(err)
			reply = struct{}{}
		}
		sending.Lock()
		defer sending.Unlock()
		if werr := codec.WriteResponse(resp, reply); werr != nil {
			d.logger.Debug("failed to write rpc response", "method", req.ServiceMethod, "error", werr)
		}
	}
	defer func() {
		cancel()
		wg.Wait()
		stop()
		_ = codec.Close()
	}()
	limiter, _ := codec.(requestLimiter)
	for {
		if limiter != nil {
			limiter.startRequest()
		}
		var req netrpc.Request
		if err := codec.ReadRequestHeader(&req); err != nil {
			if limiter != nil && limiter.overLimit() {
				d.logger.Warn("rpc request header over the request size limit; closing")
				return
			}
			if !isEOF(err) && ctx.Err() == nil {
				d.logger.Debug("failed to read rpc request header; closing", "error", err)
			}
			return
		}
		m, ok := d.lookup(req.ServiceMethod)
		if !ok {
			// Read the body to nowhere to stay in step with the stream.
			if err := codec.ReadRequestBody(nil); err != nil {
				return
			}
			send(&req, nil, errUnknownMethod(req.ServiceMethod))
			continue
		}
		argv := reflect.New(m.argType)
		if err := codec.ReadRequestBody(argv.Interface()); err != nil {
			// The stream's framing is lost: answer, then hang up.
			if limiter != nil && limiter.overLimit() {
				send(&req, nil, structs.NewError(structs.CodeTooLarge, "rpc %s: the request is larger than the server's limit of %d bytes", req.ServiceMethod, limiter.limitBytes()))
				limiter.drainRest()
				return
			}
			send(&req, nil, structs.BadRequest("rpc %s: cannot decode the request: %v", req.ServiceMethod, err))
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			replyv := reflect.New(m.replyType)
			start := time.Now()
			err := d.invoke(ctx, m, argv, replyv)
			send(&req, replyv.Interface(), err)
			if obs := d.observe.Load(); obs != nil {
				(*obs)(m.name, start, err)
			}
		}()
	}
}

// requestLimiter is a codec that bounds the bytes of each request.
type requestLimiter interface {
	startRequest()
	overLimit() bool
	limitBytes() int64
	// drainRest reads and discards, within bounds, what the peer still
	// sends of a request refused as too large.
	drainRest()
}

// isEOF reports whether err is a peer hanging up rather than garbage.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe)
}

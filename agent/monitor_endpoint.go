package agent

import (
	"net/http"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// monitorBuffer is how many log lines a slow monitor client may lag
// before lines are dropped; the agent never blocks on a monitor.
const monitorBuffer = 512

// lineWriter hands each log line to a channel without blocking.
type lineWriter struct {
	ch      chan []byte
	dropped chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	line := append([]byte(nil), p...)
	select {
	case w.ch <- line:
	default:
		select {
		case w.dropped <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// agentMonitor streams the agent's logs (GET /v1/agent/monitor) at the
// requested level until the client goes away.
func (a *Agent) agentMonitor(resp http.ResponseWriter, req *http.Request) (any, error) {
	q := reqQuery(req)
	levelName := q.Get("loglevel")
	if levelName == "" {
		levelName = "info"
	}
	level := hclog.LevelFromString(levelName)
	if level == hclog.NoLevel {
		return nil, badRequest("Unknown log level: %s", levelName)
	}
	flusher, ok := resp.(http.Flusher)
	if !ok {
		return nil, HTTPError{Code: http.StatusInternalServerError, Reason: "Streaming not supported"}
	}
	w := &lineWriter{ch: make(chan []byte, monitorBuffer), dropped: make(chan struct{}, 1)}
	sink := hclog.NewSinkAdapter(&hclog.LoggerOptions{
		Level:      level,
		Output:     w,
		JSONFormat: isTrue(q, "logjson"),
		TimeFormat: "2006-01-02T15:04:05.000Z0700",
	})
	a.logger.RegisterSink(sink)
	defer a.logger.DeregisterSink(sink)

	resp.Header().Set("Content-Type", "text/plain; charset=utf-8")
	resp.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case <-req.Context().Done():
			return nil, nil
		case <-a.ctx.Done():
			return nil, nil
		case line := <-w.ch:
			if _, err := resp.Write(line); err != nil {
				return nil, nil
			}
			flusher.Flush()
		case <-w.dropped:
			resp.Write([]byte(strings.Repeat("-", 3) + " monitor: log lines dropped, the client is too slow\n"))
			flusher.Flush()
		}
	}
}

package checks

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	const sec = time.Second
	tests := []struct {
		name    string
		v       interface{ Validate() error }
		wantErr string // "" for valid
	}{
		{"ttl ok", TTLConfig{TTL: sec}, ""},
		{"ttl short is fine", TTLConfig{TTL: time.Millisecond}, ""},
		{"ttl zero", TTLConfig{}, "ttl check TTL 0s must be positive"},
		{"ttl negative output size", TTLConfig{TTL: sec, OutputMaxSize: -1}, "output max size -1 must not be negative"},

		{"http ok", HTTPConfig{HTTP: "http://127.0.0.1:8080/health", Interval: 10 * sec}, ""},
		{"https ok", HTTPConfig{HTTP: "https://localhost/health", Method: "HEAD", Interval: sec}, ""},
		{"http no url", HTTPConfig{Interval: sec}, "http check has no URL"},
		{"http bad url", HTTPConfig{HTTP: "http://[::1", Interval: sec}, `http check URL "http://[::1" is not valid`},
		{"http no scheme", HTTPConfig{HTTP: "127.0.0.1:8080/health", Interval: sec}, "must start with http:// or https://"},
		{"http ftp", HTTPConfig{HTTP: "ftp://127.0.0.1/", Interval: sec}, "must start with http:// or https://"},
		{"http no host", HTTPConfig{HTTP: "http:///health", Interval: sec}, "has no host"},
		{"http bad method", HTTPConfig{HTTP: "http://127.0.0.1/", Method: "GET /x", Interval: sec}, `method "GET /x" is not a valid HTTP method`},
		{"http short interval", HTTPConfig{HTTP: "http://127.0.0.1/", Interval: 500 * time.Millisecond}, "check interval 500ms is below the minimum of 1s"},
		{"http no interval", HTTPConfig{HTTP: "http://127.0.0.1/"}, "check interval 0s must be positive"},
		{"http negative timeout", HTTPConfig{HTTP: "http://127.0.0.1/", Interval: sec, Timeout: -sec}, "check timeout -1s must not be negative"},

		{"tcp ok", TCPConfig{TCP: "127.0.0.1:80", Interval: sec}, ""},
		{"tcp ipv6 ok", TCPConfig{TCP: "[::1]:80", Interval: sec}, ""},
		{"tcp empty", TCPConfig{Interval: sec}, "tcp check has no address"},
		{"tcp no port", TCPConfig{TCP: "127.0.0.1", Interval: sec}, `tcp check address "127.0.0.1" is not host:port`},
		{"tcp short interval", TCPConfig{TCP: "127.0.0.1:80", Interval: 10 * time.Millisecond}, "below the minimum of 1s"},

		{"script ok", ScriptConfig{Args: []string{"/bin/true"}, Interval: sec}, ""},
		{"script no args", ScriptConfig{Interval: sec}, "script check has no args"},
		{"script empty command", ScriptConfig{Args: []string{""}, Interval: sec}, "script check has an empty command"},
		{"script short interval", ScriptConfig{Args: []string{"true"}, Interval: 999 * time.Millisecond}, "below the minimum of 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConstructorsAllowShortIntervals: the minimum is a policy for user
// input (Validate), not a limit of the runners, which tests run fast.
func TestConstructors(t *testing.T) {
	rec := &recorder{}
	short := 10 * time.Millisecond
	if _, err := NewCheckHTTP(HTTPConfig{HTTP: "http://127.0.0.1/", Interval: short}, rec); err != nil {
		t.Errorf("NewCheckHTTP with a short interval: %v", err)
	}
	if _, err := NewCheckTCP(TCPConfig{TCP: "127.0.0.1:1", Interval: short}, rec); err != nil {
		t.Errorf("NewCheckTCP with a short interval: %v", err)
	}
	if _, err := NewCheckScript(ScriptConfig{Args: []string{"true"}, Interval: short}, rec); err != nil {
		t.Errorf("NewCheckScript with a short interval: %v", err)
	}

	// Broken configs and missing notifiers are refused.
	errs := []error{
		second(NewCheckHTTP(HTTPConfig{HTTP: "nope", Interval: short}, rec)),
		second(NewCheckHTTP(HTTPConfig{HTTP: "http://127.0.0.1/"}, rec)),
		second(NewCheckHTTP(HTTPConfig{HTTP: "http://127.0.0.1/", Interval: short}, nil)),
		second(NewCheckTCP(TCPConfig{Interval: short}, rec)),
		second(NewCheckTCP(TCPConfig{TCP: "127.0.0.1:1", Interval: short}, nil)),
		second(NewCheckScript(ScriptConfig{Interval: short}, rec)),
		second(NewCheckScript(ScriptConfig{Args: []string{"true"}, Interval: short}, nil)),
		second(NewCheckTTL(TTLConfig{}, rec)),
		second(NewCheckTTL(TTLConfig{TTL: short}, nil)),
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: constructor accepted a broken config", i)
		}
	}
}

func second[T any](_ T, err error) error { return err }

package checks

import (
	"errors"
	"fmt"
	"time"
)

// ValidateInterval returns an error unless d is at least MinInterval. The
// agent calls it, through the configs' Validate methods, on every check a
// user defines, and reports the error as it stands.
func ValidateInterval(d time.Duration) error {
	if d < MinInterval {
		return fmt.Errorf("check interval %s is below the minimum of %s", d, MinInterval)
	}
	return nil
}

// errNilNotifier is returned by the constructors when no Notifier is given.
var errNilNotifier = errors.New("check has no notifier")

// validateRunnable checks what a periodic runner needs to run at all; the
// user-facing minimum comes on top of it in the Validate methods.
func validateRunnable(interval, timeout time.Duration, outputMaxSize int) error {
	if interval <= 0 {
		return fmt.Errorf("check interval %s must be positive", interval)
	}
	if timeout < 0 {
		return fmt.Errorf("check timeout %s must not be negative", timeout)
	}
	return validateOutputMaxSize(outputMaxSize)
}

// validateOutputMaxSize rejects a negative output limit.
func validateOutputMaxSize(n int) error {
	if n < 0 {
		return fmt.Errorf("check output max size %d must not be negative", n)
	}
	return nil
}

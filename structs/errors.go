package structs

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorCode classifies an error that is the caller's doing (bad input,
// something missing, a conflict), so that every hop, and finally the HTTP
// layer, can answer with the right status without reading the error's
// sentence. Errors without a code are server failures (HTTP 500), except
// the contract sentinels above, which keep their own handling.
type ErrorCode string

// The error codes. Their values cross the RPC wire (see EncodeRPCError):
// never rename one.
const (
	// CodeBadRequest: the request is malformed or names invalid values
	// (HTTP 400).
	CodeBadRequest ErrorCode = "bad-request"
	// CodePermissionDenied: the caller may not do this (HTTP 403).
	CodePermissionDenied ErrorCode = "permission-denied"
	// CodeNotFound: the request names something that does not exist
	// (HTTP 404).
	CodeNotFound ErrorCode = "not-found"
	// CodeConflict: the request conflicts with the current state
	// (HTTP 409).
	CodeConflict ErrorCode = "conflict"
	// CodeTooLarge: the request, or a part of it, is over a size limit
	// (HTTP 413).
	CodeTooLarge ErrorCode = "too-large"
)

// knownCodes are the codes a peer may send; a text with any other code is
// read as an uncoded error with the whole text (see DecodeRPCError).
var knownCodes = map[ErrorCode]bool{
	CodeBadRequest: true, CodePermissionDenied: true, CodeNotFound: true,
	CodeConflict: true, CodeTooLarge: true,
}

// Error is an error with a code. Its text is the message alone, so users
// see one sentence; the code travels beside it.
type Error struct {
	// Code classifies the error.
	Code ErrorCode
	// Err is the error itself; its text is what users read.
	Err error
}

// Error returns the message, without the code.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error, so errors.Is finds sentinels in it.
func (e *Error) Unwrap() error { return e.Err }

// NewError returns an error with code whose text is the formatted message;
// %w wraps as fmt.Errorf does.
func NewError(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// BadRequest returns a CodeBadRequest error with the formatted message.
func BadRequest(format string, args ...any) error {
	return NewError(CodeBadRequest, format, args...)
}

// WithCode gives err a code unless it already carries one; nil stays nil.
func WithCode(code ErrorCode, err error) error {
	if err == nil || CodeOf(err) != "" {
		return err
	}
	return &Error{Code: code, Err: err}
}

// CodeOf returns the code err carries (anywhere in its chain), or "" for an
// uncoded error.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// rpcCodePrefix starts the text of a coded error on the RPC wire:
// "rpc-error-code=<code>: <message>". net/rpc carries an error as its text
// only, so the code rides in a fixed prefix that DecodeRPCError removes
// again; a client that does not know it sees a readable sentence.
const rpcCodePrefix = "rpc-error-code="

// EncodeRPCError is the text an RPC server sends for err: the bare text for
// an uncoded error (so contract texts such as "No cluster leader" cross
// unchanged), the code prefix and the text for a coded one.
func EncodeRPCError(err error) string {
	if code := CodeOf(err); code != "" {
		return rpcCodePrefix + string(code) + ": " + err.Error()
	}
	return err.Error()
}

// DecodeRPCError turns an error text received over RPC back into an error:
// a coded text becomes an *Error with its code, a contract text its
// sentinel (see ContractError), anything else a plain error with the text.
// Decoding what EncodeRPCError wrote gives the same code and text, so a
// code survives any number of forwarding hops.
func DecodeRPCError(text string) error {
	if rest, ok := strings.CutPrefix(text, rpcCodePrefix); ok {
		if code, msg, ok := strings.Cut(rest, ": "); ok && knownCodes[ErrorCode(code)] {
			return &Error{Code: ErrorCode(code), Err: ContractError(errors.New(msg))}
		}
	}
	return ContractError(errors.New(text))
}

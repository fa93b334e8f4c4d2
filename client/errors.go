package client

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/qstate/qstate/codec"
)

// Errors of the client. Calls wrap them with context (%w); test with errors.Is.
var (
	// ErrClosed reports a call on a closed Client, or a call that Close ended.
	ErrClosed = errors.New("client: closed")
	// ErrTooManyInFlight reports a call refused because Config.MaxInFlight requests already wait on the connection.
	ErrTooManyInFlight = errors.New("client: too many request in flights on the connection")
	// ErrConnect reports a failed attempt to connect to the server.
	ErrConnect = errors.New("client: connect failed")
	// ErrBroken reports a connection whose byte stream broke (read or write error, EOF, undecodable frame).
	ErrBroken = errors.New("client: connection broken")
	// ErrServerFailure reports a SERVER_FAILURE frame: the server gave up on the connection.
	// The error also wraps the decoded *codec.JavaException.
	ErrServerFailure = errors.New("client: server failure")
	// ErrRequestFailed reports a REQUEST_FAILURE frame answering the request (see RequestError).
	ErrRequestFailed = errors.New("client: request failed")
	// ErrDecode reports state content that does not decode with the serializers given.
	ErrDecode = errors.New("client: cannot decode state content")
	// ErrBadArgument reports an argument the client cannot use (a bad JobID, type name or key text).
	ErrBadArgument = errors.New("client: bad argument")
)

// RequestError is the failure of one request: the server answered it with a
// REQUEST_FAILURE frame carrying a Java exception. errors.Is(err,
// ErrRequestFailed) holds, and so does errors.Is with the codec sentinels
// (codec.ErrUnknownKeyOrNamespace ...) that match the exception's class;
// errors.As finds the *codec.JavaException.
type RequestError struct {
	Addr      string               // the server's address
	RequestID int64                // the request's id on its connection
	Exception *codec.JavaException // the decoded Java exception, never nil
}

// Error returns the Java exception's class and message with the request's origin.
func (e *RequestError) Error() string {
	return "client: request " + strconv.FormatInt(e.RequestID, 10) + " to " + e.Addr + " failed: " + e.Exception.Error()
}

// Unwrap returns ErrRequestFailed and the Java exception.
func (e *RequestError) Unwrap() []error { return []error{ErrRequestFailed, e.Exception} }

// serverFailure builds the error every request in flight of a connection gets
// when the server sends SERVER_FAILURE.
func serverFailure(addr string, jex *codec.JavaException) error {
	return fmt.Errorf("%w from %s (connection closed): %w", ErrServerFailure, addr, jex)
}

// broken builds the error every request in flight of a connection gets when
// its stream breaks.
func broken(addr, why string, err error) error {
	return fmt.Errorf("%w: %s: %s: %w", ErrBroken, addr, why, err)
}

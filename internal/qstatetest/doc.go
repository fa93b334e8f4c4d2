// Package qstatetest is the test kit of qstate's packages: a fake server
// to run protocol logic against (Server, Conn), a frame reader and writer
// for the client side of a test (ReadFrame, RequestFrame, Dial,
// DialWindow), waits that fail the test with a message when what they wait
// for does not happen in time (Recv, Events, Buffer, Eventually, Retry),
// the condition of a loop that runs until a stop channel closes
// (IsClosed), a state whose look-ups wait until the test releases them
// (BlockingState), and the start and stop of a server-like value (Serve).
//
// It is for tests only: nothing in the product imports it. It imports
// codec, so codec's own tests (package codec) cannot use it, and not
// server, so server's tests can.
//
// Goroutines: a Server runs one goroutine to accept and one per connection;
// all of them end in Stop, which t.Cleanup calls. Events may be added to
// from any goroutine and waited on from the test's. Every wait is bounded
// (Timeout unless a test passes its own) and fails the test, naming what it
// waited for, when it times out. Frames and bodies returned by the readers
// are freshly allocated: the caller may keep them.
package qstatetest

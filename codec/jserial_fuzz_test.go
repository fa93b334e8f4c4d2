package codec

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzReadThrowable: ReadThrowable never panics; a failure wraps
// ErrJavaStream; a success is a chain of at most MaxCauseChain exceptions
// with valid UTF-8 text that AppendThrowable writes (as is when its classes
// are sendable, else its Sendable form) and readThrowable reads back to the
// same values, and that writing again gives the same bytes.
//
// Seeds: every golden payload, vectors/throwables/*.bin, the payloads our
// server sends, and testdata/fuzz/FuzzReadThrowable (JDK streams written by
// testdata/java/WriteFeatures.java: custom fields, enums, proxies,
// externalizable data, block data, resets, loops).
func FuzzReadThrowable(f *testing.F) {
	for _, g := range goldenFailures(f) {
		f.Add(g.payload)
	}
	for _, tf := range throwableFiles {
		f.Add(readThrowableFile(f, tf.file))
	}
	for _, o := range ourPayloads() {
		if b := MustAppendThrowable(nil, o.e); len(b) < 8<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := readThrowable(b)
		if err != nil {
			if e != nil || !errors.Is(err, ErrJavaStream) {
				t.Fatalf("failure %v with result %v", err, e)
			}
			return
		}
		chain := chainOf(e)
		if len(chain) == 0 || len(chain) > MaxCauseChain {
			t.Fatalf("chain of %d", len(chain))
		}
		for _, x := range chain {
			if !utf8.ValidString(x.Class) || !utf8.ValidString(x.Message) {
				t.Fatalf("invalid UTF-8 in %q %q", x.Class, x.Message)
			}
		}
		sent := e
		out, err := AppendThrowable(nil, e)
		if err != nil {
			if !errors.Is(err, ErrClassNotAllowed) {
				t.Fatalf("AppendThrowable: %v", err)
			}
			sent = e.Sendable()
			if out, err = AppendThrowable(nil, sent); err != nil {
				t.Fatalf("AppendThrowable of the Sendable form: %v", err)
			}
		}
		back, err := readThrowable(out)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !sameChain(chainOf(back), chainOf(sent)) {
			t.Fatalf("re-read %s\nwrote %s", describe(chainOf(back)), describe(chainOf(sent)))
		}
		again, err := AppendThrowable(nil, back)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second write differs (%v)", err)
		}
	})
}

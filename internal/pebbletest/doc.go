// Package pebbletest is the test kit of code that keeps state in Pebble
// (pebblestate, and the handler over it): a file system over the real disk
// whose sstable reads a test can make fail or hang (OnSSTRead,
// FailingReads).
//
// It is for tests only: nothing in the product imports it. The hooks run
// on Pebble's goroutines; FailingReads.Fail may be set from any goroutine.
package pebbletest

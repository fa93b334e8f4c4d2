// Package dataset holds the states qstate serves without a Flink job: the
// synthetic benchmark dataset (a ValueState<byte[]> of N integer keys,
// byte-for-byte the dataset of the golden `exchange` vectors, so that
// qstate and Flink's own server answer a benchmark identically; a cluster
// node holds the SyntheticPart of its key groups; OpenSynthetic writes it
// once to a Pebble store, package pebblestate, and reuses it after) and the
// demo task embedded in `qstate serve` (a word count, recent events per
// user and per-user attributes, updated live under a fixed JobID).
//
// What it must not do: know the network or the wire format beyond the
// state serializers; start goroutines of its own (Demo.Run runs on the
// caller's goroutine and returns when its context ends).
//
// Ownership of byte slices: SyntheticValue appends to the caller's dst and
// keeps nothing. The states copy what they are given.
//
// Goroutines: RegisterSynthetic, SyntheticPart and NewDemo run once,
// before serving. Demo.Step and Demo.Run may run on any goroutine while
// any number of queries read the states (the heap states are safe for
// that).
//
// Invariants the tests cite:
//
//   - D1: the synthetic state answers every golden `exchange` request for
//     a present key with exactly Flink's content, and a missing key with
//     no state (TestSyntheticMatchesGolden).
//   - D1 holds for the synthetic state in a Pebble store, written or
//     reused (TestSyntheticPebbleMatchesGolden).
//   - D2: every demo example key is queryable as soon as NewDemo returns,
//     and its answer decodes with the serializers its DemoStateInfo names
//     (TestDemoStates).
package dataset

// Package bufpool hands out byte slices from power-of-two size classes
// (MinClass 64 B to MaxClass 32 MiB) so that the hot path encodes frames
// and copies request bodies without allocating: Get(n) returns a slice
// with len 0 and cap >= n for append-style encoders, Put(b) gives it back.
//
// It must not know about frames or connections, start goroutines, or
// hold a slice once it has handed it out.
//
// Ownership: a slice from Get is the caller's, and only the caller's,
// until the caller passes it (or any reslice of it) to Put; none survives
// Put: after Put neither the caller nor anyone the caller gave it to may
// read or write it. Put may be called from any goroutine, not only the
// one that called Get, and with slices that did not come from Get (only
// their capacity matters). Get and Put are safe for concurrent use.
//
// Classes: Get(n) returns cap ClassOf(n), the smallest class >= n;
// requests above MaxClass are allocated with make and dropped by Put for
// the GC. Put files a slice by its capacity: exactly a class goes to that
// class, between two classes one class down (so Get never hands out less
// than it promises), below MinClass or above MaxClass is dropped.
// MaxClass is 32 MiB so that a frame well above the codec's default 4 MiB
// limit plus its 4-byte prefix still comes from a class. Pooled slices live in
// sync.Pools, so the GC reclaims idle ones: memory held is bounded by
// recent use, not by the peak.
//
// Implementation choice. The pool underneath is gnet's
// pkg/pool/byteslice.Pool (our own instance, not gnet's package-level
// one, so a use-after-Put bug here cannot corrupt gnet's buffers). It
// files the pointer to the array (unsafe.SliceData) in a sync.Pool per
// class, which fits an interface without boxing, so Put allocates
// nothing. Measured by BenchmarkCompare (go test ./bufpool -run '^$'
// -bench Compare -benchmem -count 5 -benchtime 300ms, 2 shared cores under
// heavy load, medians, 1 KiB / 64 KiB):
//
//	bufpool (gnet underneath)     49 / 103 ns   0 B  0 allocs
//	gnet byteslice directly       43 /  77 ns   0 B  0 allocs
//	hand-written array-pointer    84 /  77 ns   0 B  0 allocs
//	sync.Pool of []byte          119 / 144 ns  24 B  1 alloc  (boxes the header on Put)
//	sync.Pool of *[]byte         109 / 150 ns  24 B  1 alloc  (our API passes []byte)
//	valyala/bytebufferpool       131 ns / 243 µs, 0 / 3 allocs (one calibrated size, not classes;
//	                             measured then, no longer a dependency or in the benchmark)
//	make([]byte, 0, n)           1.8 / 158 µs  n B  1 alloc
//
// gnet's pool and a hand-written one of the same scheme are equal within
// the noise of the shared machine; the sync.Pool-of-slice variants
// allocate on every Put; bytebufferpool keeps one calibrated size for all
// callers, not size classes. So bufpool uses gnet's, adding only the class
// bounds and the race-build poisoning below.
//
// Invariants the tests cite:
//
//   - I1: a slice is never handed to two owners at once (TestConcurrent,
//     under -race).
//   - I2: in steady state Get and Put allocate nothing (TestGetPutAllocs,
//     BenchmarkGetPut, BenchmarkGetPutParallel).
//   - I3: in race-detector builds Put overwrites the whole capacity with
//     PoisonByte, so a use after Put reads garbage in tests
//     (TestPoisonUnderRace).
//   - I4: Get(n) has len 0 and cap ClassOf(n) >= n; Put files by capacity
//     as described above (TestGetClasses, TestReuse,
//     TestPutBetweenClassesFilesOneDown, TestPutDropsOutOfRange).
package bufpool

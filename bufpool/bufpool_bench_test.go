package bufpool_test

import (
	"math/bits"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"

	"github.com/qstate/qstate/bufpool"
)

//	go test ./bufpool -run '^$' -bench . -benchmem

var benchSizes = []int{64, 1 << 10, 64 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

var benchSink byte

// benchGetPut measures one get of n bytes, a write and one put per op.
func benchGetPut(b *testing.B, n int, get func(int) []byte, put func([]byte)) {
	b.ReportAllocs()
	for b.Loop() {
		buf := get(n)
		buf = append(buf, 1)
		benchSink += buf[0]
		put(buf)
	}
}

// benchGetPutParallel is benchGetPut (without its sink, which would race)
// from GOMAXPROCS goroutines at once.
func benchGetPutParallel(b *testing.B, n int, get func(int) []byte, put func([]byte)) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf := get(n)
			buf = append(buf, 1)
			put(buf)
		}
	})
}

// BenchmarkGetPut: one Get, a write, one Put, as an encoder uses it.
func BenchmarkGetPut(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) { benchGetPut(b, n, bufpool.Get, bufpool.Put) })
	}
}

func BenchmarkGetPutParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) { benchGetPutParallel(b, n, bufpool.Get, bufpool.Put) })
	}
}

// The alternatives bufpool was chosen against (see doc.go), each behind the
// same Get(n) []byte / Put([]byte) shape bufpool offers. (valyala's
// bytebufferpool was measured too, through its own API, when bufpool was
// chosen; doc.go keeps its figures. It is no longer a dependency.)

// boxPool files []byte values in sync.Pools: Put boxes the slice header.
type boxPool struct{ pools [26]sync.Pool }

func (p *boxPool) Get(n int) []byte {
	i := bits.Len(uint(n - 1))
	if v := p.pools[i].Get(); v != nil {
		return v.([]byte)[:0]
	}
	return make([]byte, 0, 1<<i)
}

func (p *boxPool) Put(b []byte) { p.pools[bits.Len(uint(cap(b)))-1].Put(b) } //nolint:staticcheck // the boxing is what is measured

// ptrPool files *[]byte: the header must be boxed by hand on Put, since
// the API passes []byte.
type ptrPool struct{ pools [26]sync.Pool }

func (p *ptrPool) Get(n int) []byte {
	i := bits.Len(uint(n - 1))
	if v := p.pools[i].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<i)
}

func (p *ptrPool) Put(b []byte) { p.pools[bits.Len(uint(cap(b)))-1].Put(&b) }

// arrayPool is the hand-written equivalent of gnet's scheme: it files the
// array pointer, which fits an interface without boxing.
type arrayPool struct{ pools [26]sync.Pool }

func (p *arrayPool) Get(n int) []byte {
	i := bits.Len(uint(n - 1))
	if v := p.pools[i].Get(); v != nil {
		return unsafe.Slice(v.(*byte), 1<<i)[:0]
	}
	return make([]byte, 0, 1<<i)
}

func (p *arrayPool) Put(b []byte) { p.pools[bits.Len(uint(cap(b)))-1].Put(unsafe.SliceData(b)) }

var (
	altBox   boxPool
	altPtr   ptrPool
	altArray arrayPool
	altGnet  byteslice.Pool
)

func BenchmarkCompare(b *testing.B) {
	impls := []struct {
		name string
		get  func(int) []byte
		put  func([]byte)
	}{
		{"bufpool", bufpool.Get, bufpool.Put},
		{"gnet-byteslice", func(n int) []byte { return altGnet.Get(n)[:0] }, altGnet.Put},
		{"hand-array-ptr", altArray.Get, altArray.Put},
		{"syncpool-slice", altBox.Get, altBox.Put},
		{"syncpool-ptr", altPtr.Get, altPtr.Put},
		{"make", func(n int) []byte { return make([]byte, 0, n) }, func([]byte) {}},
	}
	for _, n := range []int{1 << 10, 64 << 10} {
		for _, im := range impls {
			b.Run(im.name+"/"+sizeName(n), func(b *testing.B) { benchGetPut(b, n, im.get, im.put) })
			b.Run(im.name+"/parallel/"+sizeName(n), func(b *testing.B) { benchGetPutParallel(b, n, im.get, im.put) })
		}
	}
}

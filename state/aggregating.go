package state

// AggregateFunction is Flink's AggregateFunction without merge: an
// accumulator per key, updated with each input, turned into a result on
// read. Its methods run under the key's writer lock: they must not call
// back into the same state for the same key. (For a key's first input,
// CreateAccumulator and Add run before the key exists; if another writer
// creates the key at that moment, their result is discarded and Add runs
// again on that writer's accumulator.)
type AggregateFunction[IN, ACC, OUT any] interface {
	// CreateAccumulator returns a new, empty accumulator.
	CreateAccumulator() ACC
	// Add adds in to acc and returns the updated accumulator (it may
	// modify acc and return it).
	Add(in IN, acc ACC) ACC
	// Result returns the result for acc; it must not modify acc.
	Result(acc ACC) OUT
}

// AggregatingState is a heap AggregatingState. Its answer to a query is
// the accumulator's bytes, not the result, as in Flink (the Java client
// calls getResult itself). Methods are safe for concurrent use.
type AggregatingState[K, N, IN, ACC, OUT any] struct {
	b   base[K, N, ACC]
	as  Serializer[ACC]
	agg AggregateFunction[IN, ACC, OUT]
}

// NewAggregatingState returns an empty AggregatingState; as serializes the
// accumulator.
func NewAggregatingState[K, N, IN, ACC, OUT any](ks KeySerializer[K], ns Serializer[N], as Serializer[ACC], agg AggregateFunction[IN, ACC, OUT]) *AggregatingState[K, N, IN, ACC, OUT] {
	if as == nil || agg == nil {
		panic("state: nil accumulator serializer or aggregate function")
	}
	s := &AggregatingState[K, N, IN, ACC, OUT]{as: as, agg: agg}
	s.b.init(ks, ns)
	return s
}

// Get implements KvState.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Get(keyAndNamespace []byte) ([]byte, bool, error) {
	return s.b.get(keyAndNamespace)
}

// GetBatch implements BatchGetter: Get for every key of ls, their memory
// misses overlapped.
func (s *AggregatingState[K, N, IN, ACC, OUT]) GetBatch(ls []Lookup) { s.b.getBatch(ls) }

// Add adds in to the accumulator of key in namespace n, creating it first
// when there is none.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Add(key K, n N, in IN) {
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	s.b.mutate(kb,
		func(e *entry[ACC]) {
			acc := s.agg.Add(in, e.data)
			bl := newBlob(s.as, acc)
			e.data = acc
			e.pub.Store(bl)
		},
		func() (ACC, *blob, bool) {
			acc := s.agg.Add(in, s.agg.CreateAccumulator())
			return acc, newBlob(s.as, acc), true
		})
}

// Result returns the result for the accumulator of key in namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Result(key K, n N) (out OUT, ok bool) {
	kb := s.b.key(key, n)
	defer s.b.release(kb)
	ok = s.b.read(kb, func(e *entry[ACC]) { out = s.agg.Result(e.data) })
	return out, ok
}

// Clear removes the accumulator of key in namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Clear(key K, n N) { s.b.clear(key, n) }

// Len returns the number of keys and namespaces with an accumulator.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Len() int { return s.b.t.len() }

// In returns s bound to namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) In(n N) AggregatingIn[K, N, IN, ACC, OUT] {
	return AggregatingIn[K, N, IN, ACC, OUT]{s, n}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Void() AggregatingIn[K, N, IN, ACC, OUT] {
	return s.In(mustVoid[N]())
}

// AggregatingIn is an AggregatingState bound to one namespace (see
// AggregatingState.Void).
type AggregatingIn[K, N, IN, ACC, OUT any] struct {
	s *AggregatingState[K, N, IN, ACC, OUT]
	n N
}

// State returns the underlying AggregatingState (to register it).
func (a AggregatingIn[K, N, IN, ACC, OUT]) State() *AggregatingState[K, N, IN, ACC, OUT] { return a.s }

// Add adds in to the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Add(key K, in IN) { a.s.Add(key, a.n, in) }

// Result returns the result for the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Result(key K) (OUT, bool) { return a.s.Result(key, a.n) }

// Clear removes the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Clear(key K) { a.s.Clear(key, a.n) }

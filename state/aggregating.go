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
	base[K, N, ACC]
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
	s.init(ks, ns)
	return s
}

// Add adds in to the accumulator of key in namespace n, creating it first
// when there is none.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Add(key K, n N, in IN) {
	s.fold(key, n, s.as,
		func() ACC { return s.agg.Add(in, s.agg.CreateAccumulator()) },
		func(acc ACC) ACC { return s.agg.Add(in, acc) })
}

// Result returns the result for the accumulator of key in namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Result(key K, n N) (out OUT, ok bool) {
	kb := s.key(key, n)
	defer s.release(kb)
	ok = s.read(kb, func(e *entry[ACC]) { out = s.agg.Result(e.data) })
	return out, ok
}

// In returns s bound to namespace n.
func (s *AggregatingState[K, N, IN, ACC, OUT]) In(n N) AggregatingIn[K, N, IN, ACC, OUT] {
	return AggregatingIn[K, N, IN, ACC, OUT]{bound[K, N, *AggregatingState[K, N, IN, ACC, OUT]]{s, n}}
}

// Void returns s bound to the VoidNamespace; it panics unless N is VoidNamespace.
func (s *AggregatingState[K, N, IN, ACC, OUT]) Void() AggregatingIn[K, N, IN, ACC, OUT] {
	return s.In(mustVoid[N]())
}

// AggregatingIn is an AggregatingState bound to one namespace (see
// AggregatingState.Void).
type AggregatingIn[K, N, IN, ACC, OUT any] struct {
	bound[K, N, *AggregatingState[K, N, IN, ACC, OUT]]
}

// Add adds in to the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Add(key K, in IN) { a.s.Add(key, a.n, in) }

// Result returns the result for the accumulator of key.
func (a AggregatingIn[K, N, IN, ACC, OUT]) Result(key K) (OUT, bool) { return a.s.Result(key, a.n) }

package handler

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/ants/v2"

	"github.com/qstate/qstate/bufpool"
	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/registry"
	"github.com/qstate/qstate/state"
)

// Endpoint answers the requests of one port. It satisfies server.Handler
// (ServeBatch) and server.ConnObserver (ConnOpened, ConnClosed) without
// importing package server.
type Endpoint struct {
	h    *Handler
	port Port
	ctr  counters

	overloaded []byte // payload answering a batch the full pool refused
	closing    []byte // payload answering a batch after Close
	noKeyGroup []byte // UnknownKvStateKeyGroupLocationException (proxy)
}

func (e *Endpoint) init(h *Handler, p Port) {
	e.h, e.port = h, p
	name := p.serverName()
	e.overloaded = codec.MustAppendThrowable(nil, codec.NewOverloaded(name, h.cfg.PoolSize))
	e.closing = codec.MustAppendThrowable(nil, codec.NewShuttingDown(name))
	e.noKeyGroup = codec.MustAppendThrowable(nil, codec.NewUnknownKvStateKeyGroupLocation(codec.ProxyName))
}

// Port returns the endpoint's port kind.
func (e *Endpoint) Port() Port { return e.port }

// Stats returns a snapshot of the endpoint's counters.
func (e *Endpoint) Stats() Stats { return e.ctr.snapshot() }

// ConnOpened counts a connection (server.ConnObserver).
func (e *Endpoint) ConnOpened() { e.ctr.conns.Add(1) }

// ConnClosed counts a closed connection (server.ConnObserver).
func (e *Endpoint) ConnClosed() { e.ctr.conns.Add(-1) }

// ServeBatch answers the n whole REQUEST frames in reqs (server.Handler):
// on the pool, or before returning with Inline dispatch, a lone request
// with Auto dispatch (the default) or when the pool refuses the batch.
// reqs is read until done is called.
func (e *Endpoint) ServeBatch(reqs []byte, n int, done func(out []byte)) {
	t := e.h.tasks.get()
	t.ep, t.reqs, t.n, t.done, t.start = e, reqs, n, done, time.Now()
	t.limit = -1
	e.serve(t)
}

// ServeParts answers like ServeBatch, within limit bytes of answers and in
// parts (server.PartHandler): it answers the requests in order while their
// answers fit in limit (the first whatever its size when first is set)
// and defers the rest, reporting how many it answered and the answer size
// of the first it deferred to done. The answers to requests a node answers
// itself go to part as soon as the batch's look-ups are done, and each
// forwarded request's answer as soon as its owner answers: none waits for
// another request's owner.
//
// A value of at least lendMin bytes that a heap state holds (immutable
// once published) is lent to the server instead of copied into out: the
// answer's header goes into out, and segs says where the value goes
// (server.PartHandler).
func (e *Endpoint) ServeParts(reqs []byte, n int, limit int, first bool, part func(out []byte, segs [][]byte, k int), done func(out []byte, segs [][]byte, answered, need int)) {
	t := e.h.tasks.get()
	t.ep, t.reqs, t.n, t.doneN, t.part, t.start = e, reqs, n, done, part, time.Now()
	t.limit, t.first = max(limit, 0), first
	e.serve(t)
}

// serve runs t on the pool, or inline, or refuses it.
func (e *Endpoint) serve(t *task) {
	t.next, t.built, t.need = 0, 0, 0
	switch {
	case e.h.closed.Load():
		t.reject(e.closing, false)
	case e.h.cfg.Dispatch == Inline || (e.h.cfg.Dispatch == Auto && t.lone()):
		// Look up on the event loop until a state whose look-ups may block
		// (state.Blocking) or a forward: the rest of the batch goes to the
		// pool.
		t.onLoop = true
		out, failed, handoff := t.answer()
		t.onLoop = false
		if !handoff {
			t.finish(out, failed, 0)
			return
		}
		pool, err := e.h.workers()
		if err != nil {
			t.reject(e.closing, false)
			return
		}
		e.invoke(pool, t)
	default:
		e.invoke(e.h.pool.Load(), t)
	}
}

// lone reports whether t is a lone request: a batch of one, on a
// connection with nothing else in flight or waiting to be written (first,
// with ServeParts). Auto dispatch answers it on the event loop, where a
// hop to the pool would only add a wake-up.
func (t *task) lone() bool { return t.n == 1 && (t.limit < 0 || t.first) }

// invoke hands t to a pool worker, or answers it at once with a failure
// when the pool is full or closed.
func (e *Endpoint) invoke(pool *ants.PoolWithFuncGeneric[*task], t *task) {
	switch err := pool.Invoke(t); {
	case err == nil: // t belongs to the worker now
	case errors.Is(err, ants.ErrPoolClosed):
		t.reject(e.closing, false)
	default:
		t.reject(e.overloaded, true)
	}
}

// task is one batch on its way through the handler.
type task struct {
	ep    *Endpoint
	reqs  []byte
	n     int
	done  func([]byte)
	start time.Time
	res   []result // one per request, reused
	next  int      // offset in reqs of the first frame not looked up yet
	built int      // answer bytes of the requests looked up so far (ServeParts' limit)

	// onLoop is set while look-ups run on an event loop (Inline
	// dispatch): a look-up in a state that may block sets handoff instead
	// of running, and the batch continues on a pool worker from next.
	onLoop, handoff bool

	// scratch holds the answers of Appender states (states on disk copy
	// their answers; heap states lend theirs): results' contents are views
	// into it until the batch is encoded. Reused across batches.
	scratch []byte

	// ServeParts only (limit -1 and nil funcs for ServeBatch).
	doneN    func(out []byte, segs [][]byte, answered, need int)
	part     func(out []byte, segs [][]byte, k int)
	segs     [][]byte // the answers being handed over, with lent values (lend); empty between batches
	limit    int      // answer bytes the batch may build; -1: no limit
	first    bool     // answer the first request whatever its size
	answered int      // requests answered (the rest are deferred)
	need     int      // answer size of the first deferred request

	// Look-ups repeat within a batch (a client queries one state): the
	// last location and state found are reused for equal keys, which saves
	// three map look-ups per request. Valid for one batch only (cleared by
	// answer), so a batch sees registrations as of its first look-up of
	// each state at the latest.
	lastJob  registry.JobID
	lastName []byte // view into reqs
	lastLoc  *registry.Location
	lastID   registry.KvStateID
	lastKvs  state.KvState
	lastApp  state.Appender // lastKvs as an Appender, or nil
	lastBlk  bool           // lastKvs's look-ups may block

	fwds []remoteRequest // the batch's requests for remote owners, forwarded after the look-ups

	// pre holds the answers prefetch looked up with state.BatchGetter, in
	// the order of their requests, and preAt where those requests are; get
	// takes pre[preNext] when its offset is the current request's. Cleared
	// by forget.
	pre     []state.Lookup
	preAt   []prefetched
	preNext int

	kinds [NumResults]int32 // the batch's answers by Result, added to the counters by finish
}

// remoteRequest is a proxy request for a key group another node owns, to
// forward after the batch's look-ups; its answer goes to res[i].
type remoteRequest struct {
	i        int
	owner    registry.Owner
	job      registry.JobID
	name, kv []byte // views into reqs
	keyHash  int32
}

// prefetched is where the request of a prefetched answer is (its offset in
// reqs) and the state prefetch looked it up in.
type prefetched struct {
	off int
	id  registry.KvStateID
	kvs state.BatchGetter
}

// maxPrefetched is the largest prefetch list a task keeps between batches.
const maxPrefetched = 4096

// result is the answer to one request before it is encoded.
type result struct {
	id      int64
	ok      bool
	content []byte // answer content when ok: immutable state bytes, or forwarded (owned)
	owned   bool   // content came from a Forwarder: give it to bufpool after encoding
	lent    bool   // content is a heap state's published value: never written again, may be lent
	at      int    // 1 + content's offset in the task's scratch when it views it (an Appender's answer), else 0
	payload []byte // Java-serialized failure when !ok
	kind    Result // how it was answered (ResultOK when ok)
	fwd     bool   // waiting for its forward (ServeParts sends the others first)
	sent    bool   // handed to part already
}

// size is the size of r's answer frame (a forward's is not known yet: its
// header only).
func (r *result) size() int {
	if r.ok || r.fwd {
		return codec.ResultFrameSize(len(r.content))
	}
	return codec.RequestFailureFrameSize(len(r.payload))
}

// lendMin is the smallest value ServeParts lends to the server instead of
// copying it (server.PartHandler): below it a copy costs less than the
// extra entries of the server's queue and of its writev.
const lendMin = 16 << 10

// lends reports whether t lends r's value to the server (ServeParts).
func (t *task) lends(r *result) bool {
	return t.doneN != nil && r.ok && r.lent && len(r.content) >= lendMin
}

// encodeAt appends r's answer to out, whose answers from mark on are not
// in t.segs yet; a lent value goes to t.segs (after the piece of out
// before it) instead of into out. It returns out and the new mark.
func (t *task) encodeAt(out []byte, mark int, r *result) ([]byte, int) {
	if !t.lends(r) {
		return r.encode(out), mark
	}
	out = codec.AppendHeader(out, codec.RequestResult, r.id, codec.KvStateResponseSize(len(r.content)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(r.content)))
	t.segs = append(t.segs, out[mark:], r.content)
	r.content = nil
	return out, len(out)
}

// builtSize is the bytes of out r's answer takes (its header alone when
// its value is lent).
func (t *task) builtSize(r *result) int {
	if t.lends(r) {
		return codec.ResultFrameSize(0)
	}
	return r.size()
}

// encode appends r's answer frame to out and drops r's bytes (owned ones
// go back to bufpool), keeping how it was answered.
func (r *result) encode(out []byte) []byte {
	if r.ok {
		out = codec.AppendResultFrame(out, r.id, r.content)
		if r.owned {
			bufpool.Put(r.content)
		}
	} else {
		out = codec.AppendRequestFailureFrame(out, r.id, r.payload)
	}
	r.content, r.payload, r.owned, r.at = nil, nil, false, 0
	return out
}

// forwardFanout bounds the goroutines that forward one batch's requests
// besides its worker: a client that pipelines requests for keys held
// elsewhere then waits about one round trip for a batch, not one per
// request, and a dead peer's retries do not hold up the rest of the batch
// one after the other. Handler-wide, such helpers never exceed PoolSize;
// beyond that the worker forwards the rest itself.
const forwardFanout = 32

// maxScratch is the largest scratch buffer a task keeps between batches.
const maxScratch = 1 << 20

// run answers the batch (or its rest, after a handoff from an event loop)
// on a pool worker and hands the answers to done.
func (t *task) run() {
	out, failed, _ := t.answer() // never hands off: not on a loop
	t.finish(out, failed, 0)
}

// finish records statistics, releases the task and calls done with the
// answers to t.answered requests (and the segments of lent values: done
// copies them before the task is released).
func (t *task) finish(out []byte, failed, overloaded int) {
	e, n, done, doneN, need := t.ep, t.answered, t.done, t.doneN, t.need
	lat := time.Since(t.start)
	e.ctr.record(n, failed, overloaded, lat)
	e.ctr.recordKinds(&t.kinds)
	if o := e.h.cfg.Observer; o != nil {
		o.ObserveBatch(e.port, n, failed, lat)
	}
	if doneN == nil {
		e.h.tasks.put(t)
		done(out)
		return
	}
	doneN(out, t.segs, n, need)
	clear(t.segs) // drop the lent values
	t.segs = t.segs[:0]
	e.h.tasks.put(t)
}

// answer looks up every request from t.next on and encodes the answers
// into one bufpool buffer sized exactly. On an event loop it stops at the
// first look-up that may block and reports handoff (the caller hands the
// task to the pool, which resumes there). A panic (a state that panics)
// fails the whole batch with a RuntimeException instead of losing it.
func (t *task) answer() (out []byte, failed int, handoff bool) {
	defer func() {
		if p := recover(); p != nil {
			t.ep.h.log.Error().Interface("panic", p).Stringer("port", t.ep.port).Msg("look-up panicked; failing its batch")
			for i := range t.res {
				t.res[i] = result{}
			}
			t.res = t.res[:0]
			t.forget()
			clear(t.segs)
			t.segs = t.segs[:0]
			payload := codec.MustAppendThrowable(nil, codec.NewInternalError(t.ep.port.serverName(), "answering the request"))
			out, failed, handoff = t.encodeAll(payload)
			t.answered, t.need = failed, 0
			t.kinds = [NumResults]int32{ResultError: int32(failed)}
		}
	}()
	if t.n > 1 {
		t.prefetch()
	}
	for t.next < len(t.reqs) {
		f, k, err := codec.DecodeFrame(t.reqs[t.next:], math.MaxInt32)
		if err != nil || k == 0 {
			break // not whole frames: the caller broke the contract; answer what was whole
		}
		var r result
		if t.ep.port == ProxyPort {
			r = t.proxyLookup(f.RequestID, f.Body)
		} else {
			r = t.stateLookup(f.RequestID, f.Body)
		}
		if t.handoff { // this frame is looked up again on a worker
			t.handoff = false
			return nil, 0, true
		}
		if t.limit >= 0 {
			size := r.size()
			if t.built+size > t.limit && (len(t.res) > 0 || !t.first) {
				if r.fwd {
					t.fwds = t.fwds[:len(t.fwds)-1] // deferred: not forwarded now
				}
				t.need = size // this request and the rest are deferred
				break
			}
			t.built += size
		}
		t.next += k
		t.res = append(t.res, r)
	}
	t.answered = len(t.res)
	if len(t.fwds) > 0 {
		if t.part != nil {
			t.sendLocal() // the node's own answers leave before any forward returns
		}
		t.forwardAll()
	}
	size := 0
	for i := range t.res {
		r := &t.res[i]
		if r.ok {
			t.kinds[ResultOK]++
		} else {
			failed++
			if r.kind == ResultOK {
				r.kind = ResultError // a failure nobody classified
			}
			t.kinds[r.kind]++
		}
		if !r.sent {
			size += t.builtSize(r)
		}
	}
	if size > 0 {
		out = bufpool.Get(size)
	}
	mark := 0
	for i := range t.res {
		r := &t.res[i]
		if !r.sent {
			out, mark = t.encodeAt(out, mark, r)
		}
		*r = result{} // drop references to state bytes
	}
	if len(t.segs) > 0 {
		t.segs = append(t.segs, out[mark:])
	}
	t.res = t.res[:0]
	t.forget()
	return out, failed, false
}

// sendLocal hands the answers already known (all but the forwards) to
// part at once (ServeParts).
func (t *task) sendLocal() {
	size, k := 0, 0
	for i := range t.res {
		if r := &t.res[i]; !r.fwd {
			size += t.builtSize(r)
			k++
		}
	}
	if k == 0 {
		return
	}
	out, mark := bufpool.Get(size), 0
	for i := range t.res {
		if r := &t.res[i]; !r.fwd {
			out, mark = t.encodeAt(out, mark, r)
			r.sent = true
		}
	}
	if len(t.segs) > 0 {
		t.segs = append(t.segs, out[mark:]) // kept: its array is reused, and cleared below
	}
	t.part(out, t.segs, k)
	clear(t.segs) // the server copied them
	t.segs = t.segs[:0]
}

// sendOne hands the answer of request i to part (ServeParts; a forward's,
// on the goroutine that forwarded it).
func (t *task) sendOne(i int) {
	r := &t.res[i]
	out := r.encode(bufpool.Get(r.size()))
	r.sent = true
	t.part(out, nil, 1)
}

// forget clears the look-up cache, the forwards and the scratch answers at
// the end of a batch.
func (t *task) forget() {
	t.lastName, t.lastLoc, t.lastKvs, t.lastApp = nil, nil, nil, nil
	if cap(t.scratch) > maxScratch {
		t.scratch = nil
	}
	t.scratch = t.scratch[:0]
	clear(t.fwds) // drop the views into reqs
	t.fwds = t.fwds[:0]
	clear(t.pre) // and into states' answers
	clear(t.preAt)
	t.pre, t.preAt, t.preNext = t.pre[:0], t.preAt[:0], 0
	if cap(t.pre) > maxPrefetched {
		t.pre, t.preAt = nil, nil
	}
}

// prefetch looks up, from t.next on, the requests that a local state
// answering in batches (state.BatchGetter, never one that may block or
// copies its answers) holds, one GetBatch per run of requests to the same
// state, so that their memory misses overlap; get then takes these
// answers in order. Requests it cannot resolve (a bad body, an unknown
// state, a remote owner) are left to get, which answers them as always.
func (t *task) prefetch() {
	t.pre, t.preAt, t.preNext = t.pre[:0], t.preAt[:0], 0
	for off := t.next; off < len(t.reqs); {
		f, k, err := codec.DecodeFrame(t.reqs[off:], math.MaxInt32)
		if err != nil || k == 0 {
			break
		}
		if id, kvs, kn, ok := t.batchState(f.Body); ok {
			t.pre = append(t.pre, state.Lookup{KeyAndNamespace: kn})
			t.preAt = append(t.preAt, prefetched{off: off, id: id, kvs: kvs})
		}
		off += k
	}
	for i := 0; i < len(t.pre); {
		j := i + 1
		for j < len(t.pre) && t.preAt[j].id == t.preAt[i].id {
			j++
		}
		t.preAt[i].kvs.GetBatch(t.pre[i:j])
		i = j
	}
}

// prefetched reports whether prefetch looked up the current request (at
// t.next), skipping answers of earlier requests that took another path
// (the registry changed in between: they were looked up again).
func (t *task) prefetched() bool {
	for t.preNext < len(t.pre) && t.preAt[t.preNext].off < t.next {
		t.preNext++
	}
	return t.preNext < len(t.pre) && t.preAt[t.preNext].off == t.next
}

// batchState returns the local BatchGetter that answers a request body,
// and the key and namespace to look up, as proxyLookup and stateLookup
// would find them; ok is false for anything else.
func (t *task) batchState(body []byte) (id registry.KvStateID, kvs state.BatchGetter, kn []byte, ok bool) {
	if t.ep.port == ProxyPort {
		req, err := codec.DecodeKvStateRequest(body)
		if err != nil {
			return id, nil, nil, false
		}
		loc, ok := t.location(registry.JobID(req.JobID), req.StateName)
		if !ok {
			return id, nil, nil, false
		}
		owner, ok := loc.Owner(loc.KeyGroup(req.KeyHash))
		if !ok || !owner.Local() {
			return id, nil, nil, false
		}
		id, kn = owner.ID, req.KeyAndNamespace
	} else {
		req, err := codec.DecodeKvStateInternalRequest(body)
		if err != nil {
			return id, nil, nil, false
		}
		id, kn = registry.KvStateID(req.KvStateID), req.KeyAndNamespace
	}
	s, ok := t.kvState(id)
	if !ok || t.lastApp != nil || t.lastBlk {
		return id, nil, nil, false
	}
	kvs, ok = s.(state.BatchGetter)
	return id, kvs, kn, ok
}

// forwardAll forwards the batch's remote requests and stores their answers:
// concurrently, on up to forwardFanout helper goroutines besides the
// worker while the handler has fewer than PoolSize of them, the worker
// taking its share. Each writes only its own results; wg.Wait orders
// their writes before the encoding.
func (t *task) forwardAll() {
	h := t.ep.h
	ctx := acquireDeadline(t.start.Add(h.cfg.RequestTimeout))
	defer ctx.release() // after every forward of the batch has returned
	n := len(t.fwds)
	if n == 1 {
		t.forwardOne(ctx, 0)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for j := int(next.Add(1) - 1); j < n; j = int(next.Add(1) - 1) {
			t.forwardOne(ctx, j)
		}
	}
	for range min(n-1, forwardFanout) {
		if h.fwdHelpers.Add(1) > int64(h.cfg.PoolSize) {
			h.fwdHelpers.Add(-1)
			break
		}
		wg.Go(func() {
			defer h.fwdHelpers.Add(-1)
			work()
		})
	}
	work()
	wg.Wait()
}

// forwardOne forwards t.fwds[j] and stores the answer. A panicking
// Forwarder fails that request only (it may run on a helper goroutine,
// where a panic would end the process).
func (t *task) forwardOne(ctx context.Context, j int) {
	p := &t.fwds[j]
	id := t.res[p.i].id
	defer func() {
		if v := recover(); v != nil {
			t.ep.h.log.Error().Interface("panic", v).Msg("Forwarder panicked; failing its request")
			t.res[p.i] = fail(id, ResultError, codec.NewInternalError(codec.ProxyName, "forwarding the request"))
			if t.part != nil {
				t.sendOne(p.i)
			}
		}
	}()
	t.res[p.i] = t.ep.forward(ctx, id, p.owner, p.job, p.name, p.keyHash, p.kv)
	if t.part != nil {
		t.sendOne(p.i)
	}
}

// location returns the location of (job, name), from the batch's cache
// when the previous request asked for the same.
func (t *task) location(job registry.JobID, name []byte) (*registry.Location, bool) {
	if t.lastLoc != nil && job == t.lastJob && string(name) == string(t.lastName) {
		return t.lastLoc, true
	}
	loc, ok := t.ep.h.reg.Location(job, name)
	if ok {
		t.lastJob, t.lastName, t.lastLoc = job, name, loc
	}
	return loc, ok
}

// kvState returns the local state registered under id, from the batch's
// cache when the previous request asked for the same.
func (t *task) kvState(id registry.KvStateID) (state.KvState, bool) {
	if t.lastKvs != nil && id == t.lastID {
		return t.lastKvs, true
	}
	kvs, ok := t.ep.h.reg.KvState(id)
	if ok {
		t.lastID, t.lastKvs = id, kvs
		t.lastApp, _ = kvs.(state.Appender)
		b, isB := kvs.(state.Blocking)
		t.lastBlk = isB && b.MayBlock()
	}
	return kvs, ok
}

// reject answers every request of the batch with payload, at once, on the
// caller's goroutine (the event loop).
func (t *task) reject(payload []byte, overload bool) {
	out, n, _ := t.encodeAll(payload)
	t.answered, t.need = n, 0
	over := 0
	if overload {
		over = n
		t.kinds[ResultOverload] = int32(n)
	} else {
		t.kinds[ResultShutdown] = int32(n)
	}
	t.finish(out, n, over)
}

// encodeAll answers every whole frame of the batch with the same failure
// payload, dropping whatever was looked up already.
func (t *task) encodeAll(payload []byte) (out []byte, n int, handoff bool) {
	clear(t.res)
	t.res = t.res[:0]
	t.forget()
	for b := t.reqs; len(b) > 0; n++ {
		_, k, err := codec.DecodeFrame(b, math.MaxInt32)
		if err != nil || k == 0 {
			break
		}
		b = b[k:]
	}
	out = bufpool.Get(n * codec.RequestFailureFrameSize(len(payload)))
	for b := t.reqs; len(b) > 0; {
		f, k, err := codec.DecodeFrame(b, math.MaxInt32)
		if err != nil || k == 0 {
			break
		}
		b = b[k:]
		out = codec.AppendRequestFailureFrame(out, f.RequestID, payload)
	}
	return out, n, false
}

// proxyLookup answers a KvStateRequest: location of (job, name), key group
// of the key hash, owner of the key group, then the local state (or the
// Forwarder for a remote owner).
func (t *task) proxyLookup(id int64, body []byte) result {
	e := t.ep
	req, err := codec.DecodeKvStateRequest(body)
	if err != nil {
		return fail(id, ResultBadRequest, codec.NewMalformedRequest(e.port.serverName(), body, err))
	}
	loc, ok := t.location(registry.JobID(req.JobID), req.StateName)
	if !ok {
		return fail(id, ResultUnknownState, codec.NewFailedRequest(id, codec.NewUnknownLocation(req.JobID, string(req.StateName))))
	}
	owner, ok := loc.Owner(loc.KeyGroup(req.KeyHash))
	if !ok {
		return result{id: id, payload: e.noKeyGroup, kind: ResultUnknownKeyGroup}
	}
	if !owner.Local() {
		if e.h.cfg.Forwarder == nil {
			return result{id: id, payload: e.noKeyGroup, kind: ResultUnknownKeyGroup}
		}
		if t.onLoop {
			t.handoff = true // a forward may block: a worker sends it
			return result{}
		}
		// Forwarded after the batch's look-ups, concurrently with its other forwards.
		t.fwds = append(t.fwds, remoteRequest{i: len(t.res), owner: owner, job: registry.JobID(req.JobID),
			name: req.StateName, kv: req.KeyAndNamespace, keyHash: req.KeyHash})
		return result{id: id, fwd: true}
	}
	return t.get(id, owner.ID, req.KeyAndNamespace)
}

// stateLookup answers a KvStateInternalRequest: the state registered under
// the KvStateID, then its value for the key and namespace.
func (t *task) stateLookup(id int64, body []byte) result {
	e := t.ep
	req, err := codec.DecodeKvStateInternalRequest(body)
	if err != nil {
		return fail(id, ResultBadRequest, codec.NewMalformedRequest(e.port.serverName(), body, err))
	}
	return t.get(id, registry.KvStateID(req.KvStateID), req.KeyAndNamespace)
}

// get reads the local state kvID for keyAndNamespace, answering as Flink's
// KvStateServerHandler does.
func (t *task) get(id int64, kvID registry.KvStateID, keyAndNamespace []byte) result {
	kvs, ok := t.kvState(kvID)
	if !ok {
		return fail(id, ResultUnknownState, codec.NewUnknownKvStateID(codec.ServerName, kvID))
	}
	var (
		v     []byte
		found bool
		err   error
		at    int // 1 + v's offset in t.scratch; 0: not there
	)
	switch {
	case t.lastBlk && t.onLoop:
		t.handoff = true // never on an event loop: a worker looks it up
		return result{}
	case t.prefetched():
		l := &t.pre[t.preNext]
		t.preNext++
		v, found, err = l.Value, l.Found, l.Err
	case t.lastApp != nil:
		v, at, found, err = t.appendGet(keyAndNamespace)
	default:
		v, found, err = kvs.Get(keyAndNamespace)
	}
	switch {
	case err != nil:
		return fail(id, ResultError, codec.NewFailedRequest(id, processingError(id, err)))
	case !found:
		// The state server's failure, relayed unchanged by a Flink proxy:
		// cached bytes, no allocation.
		return result{id: id, payload: codec.UnknownKeyOrNamespacePayload(codec.ServerName), kind: ResultMissingKey}
	}
	return result{id: id, ok: true, content: v, lent: t.lastApp == nil, at: at}
}

// ownArray is the answer size from which an Appender's answer that does
// not fit in the rest of the task's scratch keeps the array AppendGet
// made for it instead of growing the scratch.
const ownArray = lendMin

// appendGet looks keyAndNamespace up in t.lastApp (an Appender), its
// answer appended to what t.scratch has room for; at is 1 + the answer's
// offset in t.scratch, or 0 when it is not there. An answer that does not
// fit keeps the array AppendGet made for it when it is ownArray bytes or
// more; a smaller one grows the scratch, the batch's earlier answers
// moving along (rebase). Growing the scratch for large answers would copy
// the batch's answers at each growth and, since earlier results view the
// arrays it outgrew, keep them all until the batch is encoded: a batch of
// 1 MiB answers from a disk store held about five times its size.
func (t *task) appendGet(keyAndNamespace []byte) (v []byte, at int, found bool, err error) {
	start := len(t.scratch)
	out, found, err := t.lastApp.AppendGet(t.scratch[start:start], keyAndNamespace)
	n := len(out)
	switch {
	case n == 0:
		return nil, 0, found, err
	case start < cap(t.scratch) && &out[0] == &t.scratch[start : start+1][0]: // it fit
		t.scratch = t.scratch[:start+n]
	case n >= ownArray:
		return out[:n:n], 0, found, err
	default:
		t.scratch = append(t.scratch, out...) // a new array: out did not fit
		if start > 0 {
			t.rebase()
		}
	}
	return t.scratch[start : start+n : start+n], start + 1, found, err
}

// rebase points the answers in t.res that view t.scratch at its current
// array, after it grew into a new one (which holds the same bytes at the
// same offsets), so that the arrays it outgrew do not stay live until the
// batch is encoded.
func (t *task) rebase() {
	for i := range t.res {
		if r := &t.res[i]; r.at > 0 && r.content != nil {
			off, n := r.at-1, len(r.content)
			r.content = t.scratch[off : off+n : off+n]
		}
	}
}

// forward asks the Forwarder for a key group another node owns.
func (e *Endpoint) forward(ctx context.Context, id int64, owner registry.Owner, job registry.JobID, name []byte, keyHash int32, keyAndNamespace []byte) result {
	content, err := e.h.cfg.Forwarder.Forward(ctx, owner, job, name, keyHash, keyAndNamespace)
	if err == nil {
		return result{id: id, ok: true, content: content, owned: true}
	}
	var je *codec.JavaException
	if errors.As(err, &je) {
		je = je.Sendable()
		if errors.Is(je, codec.ErrBadRequest) {
			return fail(id, resultOf(je), je) // Flink's Unknown*Exceptions are BadRequestExceptions
		}
		return fail(id, resultOf(je), codec.NewFailedRequest(id, je))
	}
	return fail(id, ResultError, codec.NewFailedRequest(id, codec.NewRuntimeException(err.Error(), nil)))
}

// fail encodes exc as the failure of request id, counted as kind (an
// allocation: failures other than a missing key are not the hot path).
func fail(id int64, kind Result, exc *codec.JavaException) result {
	return result{id: id, payload: codec.MustAppendThrowable(nil, exc), kind: kind}
}

// processingError is the failure of request id whose state failed to
// answer with err, as Flink's KvStateServerHandler words it: bad key or
// namespace bytes carry Flink's IOException text.
func processingError(id int64, err error) *codec.JavaException {
	if errors.Is(err, state.ErrBadKeyAndNamespace) {
		return codec.NewProcessingError(id, "java.io.IOException", state.BadKeyAndNamespaceMessage)
	}
	return codec.NewProcessingError(id, "java.lang.RuntimeException", err.Error())
}

// Stats is a snapshot of an Endpoint's counters: Flink's
// KvStateRequestStats (AtomicKvStateRequestStats) plus overloads.
type Stats struct {
	Connections int64 // connections open now
	Requests    int64 // requests answered (Successful + Failed)
	Successful  int64 // requests answered with a value
	Failed      int64 // requests answered with a failure (missing keys included, as in Flink)
	Overloaded  int64 // failed requests refused because the pool was full
	// Results counts the requests answered, by how (indexed by Result);
	// they add up to Requests.
	Results [NumResults]int64
	// SuccessfulLatency is the sum over successful requests of the time
	// from ServeBatch to their answer being encoded (Flink sums
	// milliseconds from task creation to write completion).
	SuccessfulLatency time.Duration
}

// AverageLatency is SuccessfulLatency / Successful (0 when none).
func (s Stats) AverageLatency() time.Duration {
	if s.Successful == 0 {
		return 0
	}
	return s.SuccessfulLatency / time.Duration(s.Successful)
}

type counters struct {
	conns, requests, successful, failed, overloaded, latency atomic.Int64
	results                                                  [NumResults]atomic.Int64
}

// record counts one answered batch.
func (c *counters) record(n, failed, overloaded int, lat time.Duration) {
	c.requests.Add(int64(n))
	if ok := n - failed; ok > 0 {
		c.successful.Add(int64(ok))
		c.latency.Add(int64(ok) * int64(lat))
	}
	if failed > 0 {
		c.failed.Add(int64(failed))
	}
	if overloaded > 0 {
		c.overloaded.Add(int64(overloaded))
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Connections:       c.conns.Load(),
		Requests:          c.requests.Load(),
		Successful:        c.successful.Load(),
		Failed:            c.failed.Load(),
		Overloaded:        c.overloaded.Load(),
		SuccessfulLatency: time.Duration(c.latency.Load()),
	}
	for i := range c.results {
		s.Results[i] = c.results[i].Load()
	}
	return s
}

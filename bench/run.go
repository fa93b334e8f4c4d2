package bench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/qstate/qstate/codec"
)

// Run generates the load cfg describes and reports on it. It dials every
// connection first (failing with ErrDial if one cannot be opened), sends
// the warm-up, measures the window, waits up to DrainTimeout for the
// responses in flight, closes every connection and returns. It always stops
// by itself: the window is bounded by Duration or Requests, a connection
// that receives nothing for Timeout fails, and the drain is bounded.
//
// Cancelling ctx aborts the run: Run then returns the report so far and
// ctx's error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()

	w, respSize, err := newWire(cfg)
	if err != nil {
		return nil, err
	}
	var cpu0 float64
	if cfg.ServerPID > 0 {
		// Fail before any load if the pid cannot be read.
		if _, err := serverCPU(cfg.ServerPID); err != nil {
			return nil, err
		}
	}
	if cfg.Preload {
		if err := Preload(ctx, cfg); err != nil {
			return nil, err
		}
	}
	ncs, err := dialAll(ctx, cfg)
	if err != nil {
		return nil, err
	}

	limit := cfg.Requests
	run := newRunState(limit)
	dist := newKeyDist(cfg.Keys, cfg.Dist, cfg.ZipfS)
	conns := make([]*conn, len(ncs))
	for i, nc := range ncs {
		conns[i] = newConn(nc, w, run, newKeyGen(dist, cfg.Seed, uint64(i)), cfg, respSize)
	}

	var measureStart time.Duration
	var self0 float64
	startMeasure := func() {
		measureStart = run.since()
		self0 = selfCPU()
		if cfg.ServerPID > 0 {
			cpu0, _ = serverCPU(cfg.ServerPID)
		}
		run.phase.Store(int32(PhaseMeasure))
	}
	var warmupC, windowC, drainC <-chan time.Time
	startWindowTimer := func() {
		if cfg.Duration > 0 {
			windowC = time.After(cfg.Duration)
		}
	}
	if cfg.Warmup > 0 {
		run.phase.Store(int32(PhaseWarmup))
		warmupC = time.After(cfg.Warmup)
	} else {
		startMeasure()
		startWindowTimer()
	}

	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop()
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()

	abortAll := func() {
		for _, c := range conns {
			c.aborted.Store(true)
			_ = c.nc.SetDeadline(time.Unix(1, 0))
		}
	}
	ticker := time.NewTicker(cfg.ProgressInterval)
	defer ticker.Stop()
	ended := run.ended
	ctxDone := ctx.Done()
	var ctxErr error
	report := func(phase Phase) {
		if cfg.Progress == nil {
			return
		}
		p := Progress{Phase: phase, Requests: cfg.Requests, Duration: cfg.Duration}
		now := run.since()
		if phase == PhaseWarmup {
			p.Elapsed = now
		} else {
			p.Elapsed = now - measureStart
		}
		for _, c := range conns {
			p.Completed += c.progress.Load()
		}
		cfg.Progress(p)
	}
loop:
	for {
		select {
		case <-done:
			break loop
		case <-ctxDone:
			ctxDone, ctxErr = nil, ctx.Err()
			run.endWindow()
			abortAll()
		case <-warmupC:
			warmupC = nil
			startMeasure()
			startWindowTimer()
		case <-windowC:
			windowC = nil
			run.endWindow()
		case <-ended:
			ended = nil
			drainC = time.After(cfg.DrainTimeout)
		case <-drainC:
			drainC = nil
			abortAll()
		case <-ticker.C:
			now := run.since()
			for _, c := range conns {
				if !c.finished.Load() && now-time.Duration(c.active.Load()) > cfg.Timeout {
					c.timedOut.Store(true)
					_ = c.nc.SetDeadline(time.Unix(1, 0))
				}
			}
			report(Phase(run.phase.Load()))
		}
	}

	rep := &Report{
		Protocol:      cfg.Protocol,
		Request:       requestName(cfg),
		Addr:          cfg.Addr,
		Conns:         cfg.Conns,
		Pipeline:      cfg.Pipeline,
		Keys:          cfg.Keys,
		Dist:          cfg.Dist,
		ValueSize:     cfg.ValueSize,
		Verify:        cfg.Verify,
		WarmupSeconds: cfg.Warmup.Seconds(),
		Histogram:     newHistogram(),
	}
	if cfg.Dist == Zipf {
		rep.ZipfS = cfg.ZipfS
	}
	var errs errorCounts
	var lastDone time.Duration
	for _, c := range conns {
		rep.Histogram.Merge(c.hist)
		errs.merge(&c.errs)
		rep.Sent += c.sent
		rep.Completed += c.completed
		rep.OK += c.ok
		lastDone = max(lastDone, c.lastDone)
		if c.err != nil {
			rep.ConnFailures++
			if rep.FirstConnError == "" {
				rep.FirstConnError = c.err.Error()
			}
		}
	}
	rep.Errors = errs.list()
	for _, e := range rep.Errors {
		rep.ErrorTotal += e.Count
	}
	end := lastDone
	if end == 0 {
		end = time.Duration(run.windowEnd.Load())
	}
	if end > measureStart {
		rep.Seconds = (end - measureStart).Seconds()
		rep.RequestsPerSecond = float64(rep.Completed) / rep.Seconds
	}
	rep.Latency = latencyOf(rep.Histogram)
	if rep.Completed > 0 {
		us := (selfCPU() - self0) * 1e6 / float64(rep.Completed)
		rep.ClientCPUMicrosPerRequest = &us
	}
	if cfg.ServerPID > 0 {
		cpu1, err := serverCPU(cfg.ServerPID)
		if err == nil {
			secs := cpu1 - cpu0
			rep.ServerCPUSeconds = &secs
			if rep.Completed > 0 {
				us := secs * 1e6 / float64(rep.Completed)
				rep.ServerCPUMicrosPerRequest = &us
			}
		}
	}
	report(PhaseDone)
	return rep, ctxErr
}

// newWire builds the protocol and the size of one expected response.
func newWire(cfg Config) (wire, int, error) {
	if cfg.Protocol == RESP {
		return newRESPWire(cfg), cfg.ValueSize + 32, nil
	}
	w, err := newFlinkWire(cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return w, codec.ResultFrameSize(4 + cfg.ValueSize), nil
}

func requestName(cfg Config) string {
	switch {
	case cfg.Protocol == RESP:
		return "GET"
	case cfg.Internal:
		return "KvStateInternalRequest"
	}
	return "KvStateRequest"
}

// dialAll opens every connection, or none.
func dialAll(ctx context.Context, cfg Config) ([]net.Conn, error) {
	d := net.Dialer{Timeout: cfg.DialTimeout}
	ncs := make([]net.Conn, 0, cfg.Conns)
	for i := 0; i < cfg.Conns; i++ {
		nc, err := d.DialContext(ctx, "tcp", cfg.Addr)
		if err != nil {
			for _, c := range ncs {
				_ = c.Close()
			}
			return nil, fmt.Errorf("%w: connection %d of %d to %s: %w", ErrDial, i+1, cfg.Conns, cfg.Addr, err)
		}
		ncs = append(ncs, nc)
	}
	return ncs, nil
}

// selfCPU returns this process's user+system CPU seconds (getrusage).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// serverCPU returns the user+system CPU seconds of process pid, from
// /proc/<pid>/stat.
func serverCPU(pid int) (float64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, fmt.Errorf("%w: pid %d: %w", ErrServerCPU, pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, fmt.Errorf("%w: pid %d: %w", ErrServerCPU, pid, err)
	}
	return st.CPUTime(), nil
}

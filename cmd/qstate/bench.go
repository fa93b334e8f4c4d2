package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/qstate/qstate/bench"
)

// benchCmd is the 'bench' subcommand: a closed-loop load generator for any
// server that speaks Flink's queryable-state protocol (or RESP, for
// redis-server as the reference). All logic is in package bench.
type benchCmd struct {
	Addr      string        `default:"127.0.0.1:9069" help:"Server address (host:port)."`
	Protocol  string        `default:"flink" enum:"flink,resp" help:"Wire protocol: flink (queryable state) or resp (redis GET key:<i>)."`
	Internal  bool          `help:"Send KvStateInternalRequest (state-server port) instead of KvStateRequest (proxy port)."`
	KvStateID string        `name:"kv-state-id" placeholder:"HEX" help:"KvStateID (32 hex digits) for --internal."`
	Job       string        `default:"00112233445566778899aabbccddeeff" help:"JobID (32 hex digits)."`
	State     string        `default:"state" help:"Queryable state name."`
	Conns     int           `default:"50" help:"Connections."`
	Pipeline  int           `default:"16" help:"Requests in flight per connection."`
	Keys      int           `default:"1000" help:"Ask for keys 0..N-1 (Java Integer keys of the synthetic dataset)."`
	Dist      string        `default:"uniform" enum:"uniform,zipf" help:"Key distribution: uniform or zipf (key 0 hottest)."`
	ZipfS     float64       `name:"zipf-s" default:"0.99" help:"Zipf exponent (> 0)."`
	ValueSize int           `default:"8" help:"Value size of the synthetic dataset (for --verify and --preload)."`
	Verify    bool          `help:"Check every value byte for byte against the synthetic dataset."`
	Preload   bool          `help:"RESP only: SET every key:<i> to its synthetic value first."`
	Warmup    time.Duration `default:"1s" help:"Warm-up before the measured window (not counted)."`
	Duration  time.Duration `help:"Measured window (default 5s; with --requests, an upper bound)."`
	Requests  int64         `placeholder:"N" help:"End the window after exactly N requests."`
	ServerPID int           `name:"server-pid" placeholder:"PID" help:"Report the server's CPU µs/request (utime+stime from /proc/PID/stat)."`
	Seed      uint64        `placeholder:"N" help:"Seed of the key generators."`
	Timeout   time.Duration `default:"10s" help:"Fail a connection that receives nothing for this long."`
	JSON      bool          `name:"json" help:"Print the report as JSON instead of a table."`
	Plot      string        `placeholder:"FILE.png" help:"Write a latency-by-percentile plot (PNG)."`
}

// Run runs the subcommand.
func (c *benchCmd) Run() error {
	cfg := bench.Config{
		Addr: c.Addr, Internal: c.Internal, KvStateID: c.KvStateID, JobID: c.Job, StateName: c.State,
		Conns: c.Conns, Pipeline: c.Pipeline, Keys: c.Keys, ZipfS: c.ZipfS, ValueSize: c.ValueSize,
		Verify: c.Verify, Preload: c.Preload, Seed: c.Seed,
		Warmup: c.Warmup, Duration: c.Duration, Requests: c.Requests,
		ServerPID: c.ServerPID, Timeout: c.Timeout,
	}
	if err := cfg.Protocol.UnmarshalText([]byte(c.Protocol)); err != nil {
		return err
	}
	if err := cfg.Dist.UnmarshalText([]byte(c.Dist)); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	var bar *benchBar
	if term.IsTerminal(int(os.Stdout.Fd())) {
		bar = newBenchBar(cfg)
		cfg.Progress = bar.update
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, runErr := bench.Run(ctx, cfg)
	if bar != nil {
		bar.finish()
	}
	if rep == nil {
		return runErr
	}
	if c.Plot != "" {
		if err := bench.WritePlot(c.Plot, bench.DefaultPlotWidth, bench.DefaultPlotHeight, rep); err != nil {
			return err
		}
	}
	var err error
	if c.JSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if runErr != nil {
		return fmt.Errorf("bench interrupted: %w", runErr)
	}
	return err
}

// benchBar shows a progress bar on stderr: requests done out of
// --requests, or milliseconds of the window.
type benchBar struct {
	bar     *progressbar.ProgressBar
	byCount bool
	phase   bench.Phase
}

func newBenchBar(cfg bench.Config) *benchBar {
	b := &benchBar{byCount: cfg.Requests > 0 && cfg.Duration == 0, phase: -1}
	max := cfg.Warmup.Milliseconds()
	if max == 0 {
		max = 1
	}
	b.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
	return b
}

// update is bench.Config.Progress; it runs on Run's goroutine.
func (b *benchBar) update(p bench.Progress) {
	if p.Phase != b.phase {
		b.phase = p.Phase
		switch {
		case p.Phase == bench.PhaseMeasure && b.byCount:
			b.bar.ChangeMax64(p.Requests)
		case p.Phase == bench.PhaseMeasure:
			b.bar.ChangeMax64(max(p.Duration.Milliseconds(), 1))
		}
	}
	switch p.Phase {
	case bench.PhaseWarmup:
		b.bar.Describe("warm-up")
		_ = b.bar.Set64(p.Elapsed.Milliseconds())
	case bench.PhaseMeasure:
		b.bar.Describe(fmt.Sprintf("measure: %d req", p.Completed))
		if b.byCount {
			_ = b.bar.Set64(p.Completed)
		} else {
			_ = b.bar.Set64(p.Elapsed.Milliseconds())
		}
	case bench.PhaseDrain:
		b.bar.Describe(fmt.Sprintf("drain: %d req", p.Completed))
	}
}

func (b *benchBar) finish() { _ = b.bar.Clear() }

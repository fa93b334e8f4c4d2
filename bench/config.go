package bench

import (
	"cmp"
	"encoding"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/qstate/qstate/codec"
	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/internal/enumname"
)

// Protocol is the wire protocol the harness speaks.
type Protocol int

// The protocols.
const (
	// Flink is Apache Flink's queryable-state protocol (the zero value).
	Flink Protocol = iota
	// RESP is Redis's protocol: GET key:<i>, for redis-server as the reference.
	RESP
)

// String returns the protocol's flag name.
func (p Protocol) String() string { return protocols.String(p) }

// MarshalText implements encoding.TextMarshaler.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler ("flink" or "resp").
func (p *Protocol) UnmarshalText(b []byte) error { return protocols.UnmarshalText(b, p) }

var protocols = enumname.Table[Protocol]{
	Type: "Protocol", Names: []string{Flink: "flink", RESP: "resp"}, Aliases: map[string]Protocol{"redis": RESP},
	IgnoreCase: true, What: "protocol", Err: ErrConfig,
}

// Dist is the distribution of the keys the harness asks for.
type Dist int

// The key distributions.
const (
	// Uniform draws every key of 0..Keys-1 with the same probability (the zero value).
	Uniform Dist = iota
	// Zipf draws key k with probability proportional to 1/(k+1)^ZipfS:
	// key 0 is the hottest.
	Zipf
)

// String returns the distribution's flag name.
func (d Dist) String() string { return dists.String(d) }

// MarshalText implements encoding.TextMarshaler.
func (d Dist) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler ("uniform" or "zipf").
func (d *Dist) UnmarshalText(b []byte) error { return dists.UnmarshalText(b, d) }

var dists = enumname.Table[Dist]{
	Type: "Dist", Names: []string{Uniform: "uniform", Zipf: "zipf"}, Aliases: map[string]Dist{"zipfian": Zipf},
	IgnoreCase: true, What: "distribution", Err: ErrConfig,
}

var (
	_ encoding.TextUnmarshaler = (*Protocol)(nil)
	_ encoding.TextUnmarshaler = (*Dist)(nil)
)

// Defaults and limits. The defaults describe the synthetic dataset that
// `qstate serve --dataset synthetic` serves, and the headline 50x16 load.
const (
	// DefaultAddr is Flink's default proxy port on the loopback interface.
	DefaultAddr = "127.0.0.1:9069"
	// DefaultConns is the number of connections: enough to keep every event
	// loop of a small server busy.
	DefaultConns = 50
	// DefaultPipeline is the number of requests each connection keeps in flight.
	DefaultPipeline = 16
	// DefaultKeys is the number of distinct keys asked for (0..Keys-1):
	// as many as `qstate serve --dataset synthetic` holds by default (and
	// the golden exchanges' NKEYS).
	DefaultKeys = dataset.DefaultSyntheticKeys
	// DefaultZipfS is the Zipf exponent, YCSB's customary 0.99.
	DefaultZipfS = 0.99
	// DefaultValueSize is the value size in bytes of the synthetic dataset.
	DefaultValueSize = dataset.DefaultSyntheticValueSize
	// DefaultDuration is the measured window when neither Duration nor Requests is set.
	DefaultDuration = 5 * time.Second
	// DefaultDialTimeout bounds each connect.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTimeout is how long a connection may wait for any response
	// while it has requests in flight before it is counted as failed.
	DefaultTimeout = 10 * time.Second
	// DefaultDrainTimeout is how long the harness waits, after the window
	// closes, for the responses still in flight.
	DefaultDrainTimeout = 5 * time.Second
	// DefaultProgressInterval is how often Config.Progress is called.
	DefaultProgressInterval = 100 * time.Millisecond

	// MaxConns bounds Conns: each connection is a goroutine, a socket and
	// a latency histogram of about 220 KB.
	MaxConns = 2048
	// MaxPipeline bounds Pipeline: request ids carry the slot in 16 bits.
	MaxPipeline = 1 << slotBits
	// MaxKeys bounds Keys: the Zipf distribution keeps one float64 per key.
	MaxKeys = 1 << 22
	// MaxValueSize bounds ValueSize (64 MiB), the largest value verified or preloaded.
	MaxValueSize = 64 << 20
	// MaxStateNameLen bounds the state name.
	MaxStateNameLen = 4096
)

// Config says what load to generate. The zero value is usable: 50x16
// KvStateRequests for 5 s against 127.0.0.1:9069, uniform over the synthetic
// dataset's 1000 keys. Each field says what its zero value means.
type Config struct {
	// Addr is the host:port to connect to. Zero: DefaultAddr.
	Addr string
	// Protocol is the protocol to speak. Zero: Flink.
	Protocol Protocol
	// Internal sends KvStateInternalRequest (for a state-server port) with
	// KvStateID instead of KvStateRequest (for a proxy port). Flink only.
	Internal bool
	// KvStateID is the 32-hex-digit KvStateID for Internal requests; required with Internal.
	KvStateID string
	// JobID is the 32-hex-digit JobID of KvStateRequests. Zero: dataset.SyntheticJobID.
	JobID string
	// StateName is the queryable state name of KvStateRequests. Zero: dataset.SyntheticState.
	StateName string

	// Conns is the number of connections. Zero: DefaultConns.
	Conns int
	// Pipeline is the number of requests each connection keeps in flight. Zero: DefaultPipeline.
	Pipeline int
	// Keys is the number of keys, 0..Keys-1, drawn from. Zero: DefaultKeys.
	Keys int
	// Dist is the key distribution. Zero: Uniform.
	Dist Dist
	// ZipfS is the Zipf exponent (> 0), used with Dist Zipf. Zero: DefaultZipfS.
	ZipfS float64
	// ValueSize is the size of each value in bytes, used by Verify and
	// Preload. Zero: DefaultValueSize.
	ValueSize int
	// Verify checks every value byte for byte against the synthetic dataset.
	Verify bool
	// Preload (RESP only) SETs every key key:<i> to its synthetic value before the run.
	Preload bool
	// Seed seeds the key generators; the same seed asks for the same keys in
	// the same order on each connection. Zero is a valid seed.
	Seed uint64

	// Warmup is sent before the measured window and not counted. Zero: none.
	Warmup time.Duration
	// Duration is the measured window. Zero: DefaultDuration, unless
	// Requests is set. With both, the window ends at whichever comes first.
	Duration time.Duration
	// Requests, when positive, ends the window after exactly this many
	// requests have been sent (and answered, unless a connection fails).
	Requests int64

	// ServerPID, when positive, is the server's process id: the report
	// then has the server's CPU time per request over the window.
	ServerPID int
	// DialTimeout bounds each connect. Zero: DefaultDialTimeout.
	DialTimeout time.Duration
	// Timeout fails a connection that receives nothing for this long while
	// it has requests in flight. Zero: DefaultTimeout.
	Timeout time.Duration
	// DrainTimeout bounds the wait for in-flight responses after the window.
	// Zero: DefaultDrainTimeout.
	DrainTimeout time.Duration
	// MaxFrameLen bounds a response (Flink frame length, RESP bulk length).
	// Zero: codec.DefaultMaxFrameLen.
	MaxFrameLen int

	// Progress, when set, is called from the controlling goroutine every
	// ProgressInterval and once at the end. It must return quickly.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called. Zero: DefaultProgressInterval.
	ProgressInterval time.Duration
}

// Phase is the stage of a run.
type Phase int

// The phases of a run, in order.
const (
	PhaseWarmup  Phase = iota // requests are sent and not counted
	PhaseMeasure              // requests are counted
	PhaseDrain                // no new requests; waiting for those in flight
	PhaseDone                 // every connection has finished
)

// String names the phase.
func (p Phase) String() string { return phases.String(p) }

var phases = enumname.Table[Phase]{Type: "Phase", Names: []string{
	PhaseWarmup: "warmup", PhaseMeasure: "measure", PhaseDrain: "drain", PhaseDone: "done",
}}

// Progress is a snapshot handed to Config.Progress.
type Progress struct {
	Phase     Phase
	Elapsed   time.Duration // since the start of the current phase's window (warm-up or measure)
	Completed int64         // measured requests answered so far
	Requests  int64         // Config.Requests (0 when the window is timed)
	Duration  time.Duration // the measured window's length (0 when ended by Requests only)
}

// withDefaults returns a copy of c with zero fields filled in.
func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.JobID = cmp.Or(c.JobID, dataset.SyntheticJobID)
	c.StateName = cmp.Or(c.StateName, dataset.SyntheticState)
	c.Conns = cmp.Or(c.Conns, DefaultConns)
	c.Pipeline = cmp.Or(c.Pipeline, DefaultPipeline)
	c.Keys = cmp.Or(c.Keys, DefaultKeys)
	c.ZipfS = cmp.Or(c.ZipfS, DefaultZipfS)
	c.ValueSize = cmp.Or(c.ValueSize, DefaultValueSize)
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.MaxFrameLen = cmp.Or(c.MaxFrameLen, codec.DefaultMaxFrameLen)
	c.ProgressInterval = cmp.Or(c.ProgressInterval, DefaultProgressInterval)
	return c
}

// Validate reports every problem with c (after defaults are applied) in one
// error; each wraps ErrConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	p := configcheck.New(ErrConfig)
	if c.Protocol != Flink && c.Protocol != RESP {
		p.Addf("unknown protocol %d", int(c.Protocol))
	}
	if c.Dist != Uniform && c.Dist != Zipf {
		p.Addf("unknown distribution %d", int(c.Dist))
	}
	if _, err := parseID(c.JobID); err != nil {
		p.Addf("job id: %v", err)
	}
	if c.Internal {
		if c.Protocol != Flink {
			p.Addf("internal requests are a Flink protocol feature, not %s", c.Protocol)
		}
		if c.KvStateID == "" {
			p.Addf("internal requests need a KvStateID")
		} else if _, err := parseID(c.KvStateID); err != nil {
			p.Addf("kv state id: %v", err)
		}
	}
	if c.Preload && c.Protocol != RESP {
		p.Addf("preload is for the RESP protocol only (the Flink server holds its dataset)")
	}
	if len(c.StateName) > MaxStateNameLen {
		p.Addf("state name of %d bytes, limit %d", len(c.StateName), MaxStateNameLen)
	}
	if c.Conns < 1 || c.Conns > MaxConns {
		p.Addf("conns %d, want 1..%d", c.Conns, MaxConns)
	}
	if c.Pipeline < 1 || c.Pipeline > MaxPipeline {
		p.Addf("pipeline %d, want 1..%d", c.Pipeline, MaxPipeline)
	}
	if c.Keys < 1 || c.Keys > MaxKeys {
		p.Addf("keys %d, want 1..%d", c.Keys, MaxKeys)
	}
	if c.Dist == Zipf && (!(c.ZipfS > 0) || math.IsInf(c.ZipfS, 0)) {
		p.Addf("zipf exponent %v, want > 0", c.ZipfS)
	}
	if c.ValueSize < 0 || c.ValueSize > MaxValueSize {
		p.Addf("value size %d, want 0..%d", c.ValueSize, MaxValueSize)
	}
	if c.Warmup < 0 {
		p.Addf("negative warmup %v", c.Warmup)
	}
	if c.Duration < 0 {
		p.Addf("negative duration %v", c.Duration)
	}
	if c.Requests < 0 {
		p.Addf("negative request count %d", c.Requests)
	}
	if c.ServerPID < 0 {
		p.Addf("negative server pid %d", c.ServerPID)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial timeout", c.DialTimeout}, {"timeout", c.Timeout}, {"drain timeout", c.DrainTimeout}, {"progress interval", c.ProgressInterval}} {
		if d.v < 0 {
			p.Addf("negative %s %v", d.name, d.v)
		}
	}
	if c.MaxFrameLen < 0 {
		p.Addf("negative max frame length %d", c.MaxFrameLen)
	}
	if c.Verify && c.MaxFrameLen > 0 && c.ValueSize+64 > c.MaxFrameLen {
		p.Addf("value size %d does not fit max frame length %d", c.ValueSize, c.MaxFrameLen)
	}
	return p.Err()
}

// parseID parses a 32-hex-digit JobID or KvStateID into its 16 wire bytes
// (PROTOCOL.md §3.1: the hex form's bytes, in order).
func parseID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, fmt.Errorf("%q is %d characters, want 32 hex digits", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%q: %v", s, err)
	}
	return id, nil
}

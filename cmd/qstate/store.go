package main

// The state backend of `qstate serve` (issue #15): the synthetic dataset
// in the Go heap, or in a Pebble store on disk, written once and reused.

import (
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/dataset"
	"github.com/qstate/qstate/metrics"
	"github.com/qstate/qstate/pebblestate"
	"github.com/qstate/qstate/registry"
)

// byteSize is a flag of bytes written as 67108864, 64MiB or 64MB.
type byteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *byteSize) UnmarshalText(text []byte) error {
	n, err := humanize.ParseBytes(string(text))
	if err != nil {
		return fmt.Errorf("%q is not a size in bytes (67108864, 64MiB, 1GB): %w", text, err)
	}
	if n > 1<<62 {
		return fmt.Errorf("%q is too large", text)
	}
	*b = byteSize(n)
	return nil
}

// String returns the size as --help shows it.
func (b byteSize) String() string { return humanize.IBytes(uint64(b)) }

// storeFlags choose where `qstate serve` keeps the synthetic dataset.
type storeFlags struct {
	StateBackend string   `default:"heap" enum:"heap,pebble" env:"QSTATE_STATE_BACKEND" help:"Where the synthetic dataset lives: ${enum}. heap: Go memory; pebble: a Pebble store in --data-dir (state larger than memory), written on first start and reused afterwards; look-ups then always run on the pool."`
	DataDir      string   `env:"QSTATE_DATA_DIR" placeholder:"DIR" help:"With --state-backend pebble: the store's directory, created when absent. A directory holding anything else is an error."`
	CacheSize    byteSize `default:"64MiB" env:"QSTATE_CACHE_SIZE" help:"With --state-backend pebble: Pebble's block cache (67108864, 64MiB, 1GB)."`
	WAL          bool     `env:"QSTATE_WAL" help:"With --state-backend pebble: turn Pebble's write-ahead log on (off by default, as in Flink's RocksDB backend)."`
	Compression  string   `name:"store-compression" default:"snappy" enum:"snappy,zstd,none" env:"QSTATE_STORE_COMPRESSION" help:"With --state-backend pebble: block compression of the store's files: ${enum}."`
}

// validate reports the store flags' problems (serveCmd.Validate).
func (c *serveCmd) validateStore() []error {
	var errs []error
	switch c.StateBackend {
	case "", "heap":
		if c.DataDir != "" {
			errs = append(errs, errors.New("--data-dir: needs --state-backend pebble"))
		}
	case "pebble":
		if c.DataDir == "" {
			errs = append(errs, errors.New("--state-backend pebble: needs --data-dir"))
		}
		if c.Dataset != "synthetic" {
			errs = append(errs, errors.New("--state-backend pebble: serves --dataset synthetic (the demo task runs on the heap)"))
		}
		if c.Cluster != "" {
			errs = append(errs, errors.New("--state-backend pebble: not with --cluster"))
		}
		if c.CacheSize < 0 {
			errs = append(errs, errors.New("--cache-size: negative"))
		}
	default:
		errs = append(errs, fmt.Errorf("--state-backend: %q is not heap or pebble", c.StateBackend))
	}
	return errs
}

// registerSynthetic registers the synthetic dataset in reg: on the heap,
// or in the Pebble store it opens (and returns), writing the dataset
// unless the store holds it already.
func (c *serveCmd) registerSynthetic(reg *registry.Registry, log zerolog.Logger) (*pebblestate.DB, error) {
	if c.StateBackend != "pebble" {
		return nil, dataset.RegisterSynthetic(reg, c.Keys, c.ValueSize)
	}
	start := time.Now()
	db, err := pebblestate.Open(c.DataDir, pebblestate.Options{
		MaxParallelism: dataset.SyntheticMaxParallelism, CacheSize: int64(c.CacheSize), WAL: c.WAL, Compression: c.Compression,
		Logger: log.With().Str("component", "pebble").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("serve: --data-dir: %w", err)
	}
	s, written, err := dataset.OpenSynthetic(db, c.Keys, c.ValueSize)
	if err == nil {
		err = dataset.RegisterSyntheticState(reg, s)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("serve: --data-dir %s: %w", c.DataDir, err), db.Close())
	}
	st := db.Stats()
	log.Info().Str("dir", c.DataDir).Bool("written", written).Int("keys", c.Keys).Int("valueSize", c.ValueSize).
		Uint64("diskBytes", st.DiskBytes).Dur("took", time.Since(start)).Msg("pebble store open")
	return db, nil
}

// storeStats adapts a store's statistics for package metrics.
func storeStats(db *pebblestate.DB) func() metrics.StoreStats {
	return func() metrics.StoreStats {
		st := db.Stats()
		return metrics.StoreStats{CacheHits: st.CacheHits, CacheMisses: st.CacheMisses, CacheBytes: st.CacheBytes,
			Compactions: st.Compactions, Flushes: st.Flushes, ReadAmp: st.ReadAmp, DiskBytes: st.DiskBytes}
	}
}

// closeStore closes db (nil: the heap backend).
func closeStore(db *pebblestate.DB) error {
	if db == nil {
		return nil
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("pebble store: %w", err)
	}
	return nil
}

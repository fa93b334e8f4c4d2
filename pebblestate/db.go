package pebblestate

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/rs/zerolog"

	"github.com/qstate/qstate/internal/configcheck"
	"github.com/qstate/qstate/registry"
)

// Defaults of the zero fields of Options.
const (
	// DefaultCacheSize is the block cache (64 MiB): with values in Flink's
	// format a look-up that hits the cache copies from it, one that misses
	// reads one block from disk.
	DefaultCacheSize = 64 << 20
	// DefaultBatchBytes is how large the task's write batch grows before it
	// is committed on its own (4 MiB): large enough that a bulk load writes
	// few batches, small enough that the batch's memory stays bounded.
	DefaultBatchBytes = 4 << 20
)

// formatVersion is the store's layout version, recorded in the store.
const formatVersion = 1

// Options configures a DB. The zero value is usable: every zero field takes
// the default its comment names.
type Options struct {
	// MaxParallelism is the number of key groups of the task's keyed
	// states (Flink's max parallelism), which the key-group prefix of
	// every stored key depends on. It is recorded when the store is
	// created; reopening with another value fails (0 takes the recorded
	// one, or registry.DefaultMaxParallelism for a new store).
	MaxParallelism int
	// CacheSize is Pebble's block cache in bytes; 0 means DefaultCacheSize.
	CacheSize int64
	// WAL turns Pebble's write-ahead log on. It is off by default, as in
	// Flink's RocksDB backend (a task restores from its checkpoints):
	// committed writes are then durable only once flushed (Close,
	// Checkpoint, or when Pebble flushes a full memtable), and a crash
	// loses the later ones. With the WAL, Commit returns once the batch is
	// in the WAL on disk (synced): no crash loses a committed write. Pebble
	// writes the WAL asynchronously, so without the sync a process crash
	// would lose the last commits (TestKillDuringWrites).
	WAL bool
	// BatchBytes is the size at which the task's write batch commits on its
	// own; 0 means DefaultBatchBytes.
	BatchBytes int
	// Logger receives Pebble's own log lines (at debug level, errors at
	// error level). The zero value discards them.
	Logger zerolog.Logger
	// Compression is the sstable block compression: "snappy" (the
	// default, also for ""), "zstd" or "none". It applies to the files
	// written from then on.
	Compression string
	// FS is the file system Pebble uses; nil is the operating system's.
	// Tests wrap it to inject faults.
	FS vfs.FS
}

// Validate reports every problem of o in one error wrapping ErrConfig.
func (o Options) Validate() error {
	p := configcheck.New(ErrConfig)
	if o.MaxParallelism < 0 || o.MaxParallelism > registry.MaxParallelismUpperBound {
		p.Addf("MaxParallelism %d not in 0..%d", o.MaxParallelism, registry.MaxParallelismUpperBound)
	}
	configcheck.NonNegative(p, "CacheSize", o.CacheSize)
	if _, ok := compressions[o.Compression]; !ok {
		p.Addf("Compression %q is not snappy, zstd or none", o.Compression)
	}
	configcheck.NonNegative(p, "BatchBytes", o.BatchBytes)
	return p.Err()
}

// compressions maps Options.Compression to Pebble's profiles.
var compressions = map[string]*sstable.CompressionProfile{
	"": sstable.SnappyCompression, "snappy": sstable.SnappyCompression,
	"zstd": sstable.ZstdCompression, "none": sstable.NoCompression,
}

// Keys of the store's own records: state ID 0 (data keys start with a
// state ID of at least 1).
var (
	metaPrefix = []byte{0, 0}
	formatKey  = []byte("\x00\x00format")
	stateKey   = "\x00\x00state/"
	markKey    = "\x00\x00mark/"
)

// format is the store's record of its layout.
type format struct {
	Format         string `json:"format"`
	Version        int    `json:"version"`
	MaxParallelism int    `json:"maxParallelism"`
}

const formatName = "qstate-pebblestate"

// catalogEntry is the record of one state: its ID (the first two bytes of
// its keys) and kind.
type catalogEntry struct {
	ID   uint16 `json:"id"`
	Kind string `json:"kind"`
}

// DB is a Pebble database holding a task's keyed states. The task creates
// its states on it (NewValueState, NewListState, ...), updates them through
// its write batch, and commits; queries read what is committed.
type DB struct {
	db    *pebble.DB
	cache *pebble.Cache
	opts  Options
	maxP  int
	kgLen int // bytes of the key-group prefix: 1 up to 128 key groups, else 2 (as Flink)
	wo    *pebble.WriteOptions

	// mu guards closed against the readers (queries): they hold it shared
	// while they use db; Close holds it exclusively.
	mu     sync.RWMutex
	closed bool

	// wmu serializes the task side: the write batch, the catalog.
	wmu     sync.Mutex
	batch   *pebble.Batch // indexed: the task reads its own uncommitted writes
	catalog map[string]catalogEntry
	nextID  uint16
	wclosed bool
}

// Open opens the state store in dir, creating it (and dir) when dir does
// not exist or is empty. A directory holding anything else than a store
// (other files, another Pebble database, a corrupt database, a store of
// another max parallelism) is an error wrapping ErrDataDir. States the
// store holds are readable at once through the constructors
// (NewValueState, ...) under their names.
func Open(dir string, o Options) (db *DB, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	fs := o.FS
	if fs == nil {
		fs = vfs.Default
	}
	fresh, err := checkDir(fs, dir)
	if err != nil {
		return nil, err
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	cache := pebble.NewCache(o.CacheSize)
	defer cache.Unref() // the DB holds its own reference
	popts := &pebble.Options{
		Cache:      cache,
		FS:         fs,
		Merger:     listMerger,
		DisableWAL: !o.WAL,
		Logger:     pebbleLogger{o.Logger},
	}
	profile := compressions[o.Compression]
	for i := range popts.Levels {
		popts.Levels[i].Compression = func() *sstable.CompressionProfile { return profile }
	}
	defer func() {
		// Pebble reports some corruptions by panicking; a bad directory
		// must be an error.
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%w: %s: pebble: %v", ErrDataDir, dir, p)
		}
	}()
	pdb, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataDir, dir, err)
	}
	d := &DB{db: pdb, opts: o, catalog: map[string]catalogEntry{}, nextID: 1}
	d.wo = pebble.NoSync
	if o.WAL {
		d.wo = pebble.Sync // a commit returns once its WAL record is on disk
	}
	if err := d.load(dir, fresh); err != nil {
		return nil, errors.Join(err, pdb.Close())
	}
	if d.maxP > 128 {
		d.kgLen = 2
	} else {
		d.kgLen = 1
	}
	d.batch = pdb.NewIndexedBatch()
	return d, nil
}

// checkDir tells whether dir is to be a new store (absent or empty) and
// refuses a directory whose files are not a Pebble database.
func checkDir(fs vfs.FS, dir string) (fresh bool, err error) {
	names, err := fs.List(dir)
	if os.IsNotExist(err) {
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrDataDir, dir, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrDataDir, dir, err)
	}
	if len(names) == 0 {
		return true, nil
	}
	for _, n := range names {
		if strings.HasPrefix(n, "MANIFEST-") {
			return false, nil
		}
	}
	return false, fmt.Errorf("%w: %s holds %d files but no Pebble database (no MANIFEST); give an empty or new directory", ErrDataDir, dir, len(names))
}

// load reads (or, for a new store, writes) the format record and the catalog.
func (d *DB) load(dir string, fresh bool) error {
	v, cl, err := d.db.Get(formatKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if !fresh {
			return fmt.Errorf("%w: %s is a Pebble database but not a qstate state store (no format record)", ErrDataDir, dir)
		}
		d.maxP = d.opts.MaxParallelism
		if d.maxP == 0 {
			d.maxP = registry.DefaultMaxParallelism
		}
		rec, _ := json.Marshal(format{Format: formatName, Version: formatVersion, MaxParallelism: d.maxP})
		if err := d.db.Set(formatKey, rec, pebble.NoSync); err != nil {
			return fmt.Errorf("pebblestate: %s: write format record: %w", dir, err)
		}
		if err := d.db.Flush(); err != nil { // durable without a WAL too
			return fmt.Errorf("pebblestate: %s: flush format record: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%w: %s: read format record: %w", ErrDataDir, dir, err)
	}
	var f format
	err = json.Unmarshal(v, &f)
	cl.Close()
	if err != nil || f.Format != formatName {
		return fmt.Errorf("%w: %s: not a qstate state store (format record %q)", ErrDataDir, dir, v)
	}
	if f.Version != formatVersion {
		return fmt.Errorf("%w: %s: store format version %d, this build reads %d", ErrDataDir, dir, f.Version, formatVersion)
	}
	if f.MaxParallelism < 1 || f.MaxParallelism > registry.MaxParallelismUpperBound {
		return fmt.Errorf("%w: %s: recorded max parallelism %d out of range", ErrDataDir, dir, f.MaxParallelism)
	}
	if d.opts.MaxParallelism != 0 && d.opts.MaxParallelism != f.MaxParallelism {
		return fmt.Errorf("%w: %s holds states of max parallelism %d, not %d", ErrDataDir, dir, f.MaxParallelism, d.opts.MaxParallelism)
	}
	d.maxP = f.MaxParallelism
	return d.loadCatalog(dir)
}

func (d *DB) loadCatalog(dir string) error {
	lower := []byte(stateKey)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: successor(lower)})
	if err != nil {
		return fmt.Errorf("%w: %s: read catalog: %w", ErrDataDir, dir, err)
	}
	for it.First(); it.Valid(); it.Next() {
		name := string(it.Key()[len(stateKey):])
		var e catalogEntry
		if err := json.Unmarshal(it.Value(), &e); err != nil || e.ID == 0 || kindOK(e.Kind) != nil {
			return errors.Join(fmt.Errorf("%w: %s: bad catalog record for state %q: %q", ErrDataDir, dir, name, it.Value()), it.Close())
		}
		d.catalog[name] = e
		d.nextID = max(d.nextID, e.ID+1)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("%w: %s: read catalog: %w", ErrDataDir, dir, err)
	}
	return nil
}

// State kinds as the catalog records them.
const (
	kindValue       = "value"
	kindList        = "list"
	kindMap         = "map"
	kindReducing    = "reducing"
	kindAggregating = "aggregating"
)

func kindOK(k string) error {
	switch k {
	case kindValue, kindList, kindMap, kindReducing, kindAggregating:
		return nil
	}
	return fmt.Errorf("unknown kind %q", k)
}

// stateID returns the ID of state name of kind, registering it in the
// catalog when the store does not hold it.
func (d *DB) stateID(name, kind string) (uint16, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: empty state name", ErrConfig)
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.wclosed {
		return 0, ErrClosed
	}
	if e, ok := d.catalog[name]; ok {
		if e.Kind != kind {
			return 0, fmt.Errorf("%w: state %q is a %s state, not a %s state", ErrStateKind, name, e.Kind, kind)
		}
		return e.ID, nil
	}
	if d.nextID == 0xffff {
		return 0, fmt.Errorf("pebblestate: too many states (%d)", d.nextID-1)
	}
	e := catalogEntry{ID: d.nextID, Kind: kind}
	rec, _ := json.Marshal(e)
	if err := d.db.Set([]byte(stateKey+name), rec, d.wo); err != nil {
		return 0, fmt.Errorf("pebblestate: register state %q: %w", name, err)
	}
	d.catalog[name] = e
	d.nextID++
	return e.ID, nil
}

// States returns the names of the states the store holds and their kinds
// ("value", "list", "map", "reducing", "aggregating").
func (d *DB) States() map[string]string {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	out := make(map[string]string, len(d.catalog))
	for n, e := range d.catalog {
		out[n] = e.Kind
	}
	return out
}

// MaxParallelism returns the store's number of key groups.
func (d *DB) MaxParallelism() int { return d.maxP }

// Mark returns the value recorded under name by SetMark (a task's own
// bookkeeping, such as "this dataset is fully loaded"); false when none.
func (d *DB) Mark(name string) ([]byte, bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, false, ErrClosed
	}
	v, cl, err := d.db.Get([]byte(markKey + name))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pebblestate: read mark %q: %w", name, err)
	}
	defer cl.Close()
	return append([]byte(nil), v...), true, nil
}

// SetMark records v under name in the task's write batch: it becomes
// durable with the writes batched before it (Commit, then a flush, or the
// WAL).
func (d *DB) SetMark(name string, v []byte) error {
	return d.write(func(b *pebble.Batch) error { return b.Set([]byte(markKey+name), v, nil) })
}

// write runs fn on the task's batch under wmu, then commits the batch when
// it has grown to BatchBytes.
func (d *DB) write(fn func(b *pebble.Batch) error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.wclosed {
		return ErrClosed
	}
	if err := fn(d.batch); err != nil {
		return fmt.Errorf("pebblestate: write: %w", err)
	}
	if d.batch.Len() >= d.opts.BatchBytes {
		return d.commitLocked()
	}
	return nil
}

// read runs fn on the task's batch (which reads through to the database)
// under wmu.
func (d *DB) read(fn func(b *pebble.Batch) error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.wclosed {
		return ErrClosed
	}
	return fn(d.batch)
}

// Commit applies the task's batched writes: queries see them from then
// on. A failed commit drops the batch (the task restores from its last
// checkpoint, as with Flink's RocksDB backend).
func (d *DB) Commit() error { return d.committed(nil) }

// committed commits the batch and then, still under the write lock (no
// write slips in between), runs then unless it is nil: Commit, Flush and
// Checkpoint.
func (d *DB) committed(then func() error) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.wclosed {
		return ErrClosed
	}
	if err := d.commitLocked(); err != nil || then == nil {
		return err
	}
	return then()
}

func (d *DB) commitLocked() error {
	if d.batch.Empty() {
		return nil
	}
	err := d.batch.Commit(d.wo)
	d.batch.Reset()
	if err != nil {
		return fmt.Errorf("pebblestate: commit: %w", err)
	}
	return nil
}

// Flush commits the batch and writes the memtable to disk, so that
// everything committed survives a crash without a WAL.
func (d *DB) Flush() error {
	return d.committed(func() error {
		if err := d.db.Flush(); err != nil {
			return fmt.Errorf("pebblestate: flush: %w", err)
		}
		return nil
	})
}

// Checkpoint commits the batch and writes a consistent copy of the store
// into dir, which must not exist (hard links where the file system allows,
// so it is cheap). Open(dir) reads the copy: a task runtime's snapshot.
func (d *DB) Checkpoint(dir string) error {
	return d.committed(func() error {
		if !d.opts.WAL {
			// Without a WAL the memtable is not in the checkpoint's files.
			if err := d.db.Flush(); err != nil {
				return fmt.Errorf("pebblestate: checkpoint %s: flush: %w", dir, err)
			}
		}
		if err := d.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
			return fmt.Errorf("pebblestate: checkpoint %s: %w", dir, err)
		}
		return nil
	})
}

// Close commits the batch, flushes (without a WAL, so that a reopen finds
// everything) and closes the database. Queries after Close fail with
// ErrClosed; Close waits for the running ones.
func (d *DB) Close() error {
	d.wmu.Lock()
	if d.wclosed {
		d.wmu.Unlock()
		return nil
	}
	err := d.commitLocked()
	if err == nil && !d.opts.WAL {
		if ferr := d.db.Flush(); ferr != nil {
			err = fmt.Errorf("pebblestate: close: flush: %w", ferr)
		}
	}
	d.wclosed = true
	_ = d.batch.Close()
	d.wmu.Unlock()

	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	if cerr := d.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("pebblestate: close: %w", cerr))
	}
	return err
}

// Stats is a snapshot of the store's Pebble metrics.
type Stats struct {
	CacheHits, CacheMisses int64 // block cache look-ups since open
	CacheBytes             int64 // bytes in the block cache
	Compactions            int64 // compactions since open
	Flushes                int64 // memtable flushes since open
	ReadAmp                int   // sstables (or levels) a point read may touch
	DiskBytes              uint64
	MemtableBytes          uint64
}

// Stats returns the store's metrics (for package metrics; it takes
// Pebble's metrics lock and allocates: scrape-time only).
func (d *DB) Stats() Stats {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return Stats{}
	}
	m := d.db.Metrics()
	return Stats{
		CacheHits: m.BlockCache.Hits, CacheMisses: m.BlockCache.Misses, CacheBytes: m.BlockCache.Size,
		Compactions: m.Compact.Count, Flushes: m.Flush.Count, ReadAmp: m.ReadAmp(),
		DiskBytes: m.DiskSpaceUsage(), MemtableBytes: m.MemTable.Size,
	}
}

// successor returns the smallest key greater than every key with prefix
// p, appended to a copy (nil when p is all 0xff: no bound).
func successor(p []byte) []byte {
	return appendSuccessor(nil, p)
}

// appendSuccessor appends successor(p) to dst; it returns nil when there
// is none (p is all 0xff; never for a state's keys, whose ID is below 0xffff).
func appendSuccessor(dst, p []byte) []byte {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != 0xff {
			dst = append(dst, p[:i+1]...)
			dst[len(dst)-1]++
			return dst
		}
	}
	return nil
}

// appendKeyGroup appends kg in the key-group prefix's width.
func (d *DB) appendKeyGroup(dst []byte, kg int) []byte {
	if d.kgLen == 2 {
		return binary.BigEndian.AppendUint16(dst, uint16(kg))
	}
	return append(dst, byte(kg))
}

// pebbleLogger routes Pebble's log lines to zerolog. Fatalf panics (Pebble
// expects it not to return) instead of exiting the process.
type pebbleLogger struct{ log zerolog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug().Str("from", "pebble").Msgf(format, args...)
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error().Str("from", "pebble").Msgf(format, args...)
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error().Str("from", "pebble").Msgf(format, args...)
	panic(fmt.Sprintf("pebble: "+format, args...))
}

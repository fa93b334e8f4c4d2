package pebblestate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qstate/qstate/internal/pebbletest"
	"github.com/qstate/qstate/state"
)

func intKN(k int32) []byte { return kn(state.Int, k, state.Void, state.VoidNamespace{}) }

// fill writes n Long values (key i holds i*10) to the ValueState "v" of d
// and a list and a map for key 1.
func fill(t *testing.T, d *DB, n int) {
	t.Helper()
	vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
	must(t, err)
	for i := range n {
		must(t, vs.Void().Update(int32(i), int64(i)*10))
	}
	ls, err := NewListState(d, "l", state.Int, state.Void, state.String)
	must(t, err)
	must(t, ls.Void().AddAll(1, []string{"a", "b"}))
	must(t, ls.Void().Add(1, "c"))
	ms, err := NewMapState(d, "m", state.Int, state.Void, state.String, state.Int)
	must(t, err)
	must(t, ms.Void().Put(1, "x", 1))
	must(t, d.Commit())
}

// checkFilled verifies what fill wrote, through the query side only.
func checkFilled(t *testing.T, d *DB, n int) {
	t.Helper()
	vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
	must(t, err)
	for i := range n {
		got, found, err := vs.Get(intKN(int32(i)))
		if err != nil || !found || !bytes.Equal(got, state.Long.Append(nil, int64(i)*10)) {
			t.Fatalf("key %d: %x, %v, %v", i, got, found, err)
		}
	}
	ls, err := NewListState(d, "l", state.Int, state.Void, state.String)
	must(t, err)
	if got, _, err := ls.Get(intKN(1)); err != nil || !bytes.Equal(got, state.AppendList(nil, state.String, []string{"a", "b", "c"})) {
		t.Fatalf("list: %x, %v", got, err)
	}
	ms, err := NewMapState(d, "m", state.Int, state.Void, state.String, state.Int)
	must(t, err)
	if got, _, err := ms.Get(intKN(1)); err != nil || !bytes.Equal(got, state.AppendMap(nil, state.String, state.Int, map[string]int32{"x": 1})) {
		t.Fatalf("map: %x, %v", got, err)
	}
}

// TestReopen: a closed store reopens with its states, answering what was
// committed before any write (P3), without and with the WAL; its max
// parallelism is the recorded one.
func TestReopen(t *testing.T) {
	for _, wal := range []bool{false, true} {
		dir := t.TempDir()
		d, err := Open(dir, Options{WAL: wal, MaxParallelism: 4096})
		must(t, err)
		fill(t, d, 500)
		must(t, d.Close())
		d, err = Open(dir, Options{WAL: wal})
		must(t, err)
		if d.MaxParallelism() != 4096 || d.States()["m"] != "map" || len(d.States()) != 3 {
			t.Fatalf("reopened: max parallelism %d, states %v", d.MaxParallelism(), d.States())
		}
		checkFilled(t, d, 500)
		if _, err := NewMapState(d, "v", state.Int, state.Void, state.Int, state.Int); !errors.Is(err, ErrStateKind) {
			t.Fatalf("value state opened as a map: %v", err)
		}
		must(t, d.Close())
		if _, _, err := d.appendValue(nil, []byte{0, 1}); !errors.Is(err, ErrClosed) {
			t.Fatalf("query after Close: %v", err)
		}
	}
}

// TestCheckpoint: Checkpoint writes a copy that opens on its own with what
// was committed (WAL off: the memtable is flushed first); later writes to
// the original are not in it.
func TestCheckpoint(t *testing.T) {
	d, _ := openTemp(t, Options{})
	fill(t, d, 200)
	ck := filepath.Join(t.TempDir(), "ck")
	must(t, d.Checkpoint(ck))
	vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
	must(t, err)
	must(t, vs.Void().Update(0, 999))
	must(t, d.Commit())
	c, err := Open(ck, Options{})
	must(t, err)
	defer c.Close()
	checkFilled(t, c, 200)
	if err := d.Checkpoint(ck); err == nil {
		t.Fatal("checkpoint into an existing directory succeeded")
	}
}

// pebbleWithOneKey writes a Pebble store (with merger, nil: Pebble's
// default) holding one key, written without Open, into a new directory and
// returns the directory.
func pebbleWithOneKey(t *testing.T, merger *pebble.Merger) string {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Merger: merger, Logger: pebbleLogger{}})
	must(t, err)
	must(t, db.Set([]byte("k"), []byte("v"), pebble.Sync))
	must(t, db.Close())
	return dir
}

// TestOpenBadDirectories: anything but an empty directory or a store is
// refused at Open with an error wrapping ErrDataDir that says what is
// wrong, never a panic (P4).
func TestOpenBadDirectories(t *testing.T) {
	cases := map[string]func(t *testing.T) string{
		"files": func(t *testing.T) string {
			dir := t.TempDir()
			must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644))
			return dir
		},
		"foreign pebble":                 func(t *testing.T) string { return pebbleWithOneKey(t, nil) },
		"pebble without a format record": func(t *testing.T) string { return pebbleWithOneKey(t, listMerger) },
		"corrupt manifest": func(t *testing.T) string {
			dir := t.TempDir()
			d, err := Open(dir, Options{})
			must(t, err)
			fill(t, d, 10)
			must(t, d.Close())
			ms, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
			if len(ms) == 0 {
				t.Fatal("no MANIFEST")
			}
			for _, m := range ms {
				b, err := os.ReadFile(m)
				must(t, err)
				for i := range b {
					b[i] ^= 0x5a
				}
				must(t, os.WriteFile(m, b, 0o644))
			}
			return dir
		},
		"max parallelism": func(t *testing.T) string {
			dir := t.TempDir()
			d, err := Open(dir, Options{MaxParallelism: 128})
			must(t, err)
			must(t, d.Close())
			return dir
		},
		"a file": func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "file")
			must(t, os.WriteFile(f, nil, 0o644))
			return f
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			dir := mk(t)
			d, err := Open(dir, Options{MaxParallelism: 256})
			if err == nil {
				d.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v: want ErrDataDir naming the directory", err)
			}
			t.Log(err)
		})
	}
	if err := (Options{MaxParallelism: -1}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate: %v", err)
	}
}

// TestReadFault: a failing disk read fails that look-up with an error
// that says so; once the disk reads again, the same look-up answers (P5).
func TestReadFault(t *testing.T) {
	fs := pebbletest.NewFailingReads()
	d, _ := openTemp(t, Options{FS: fs, CacheSize: 1 << 20})
	fill(t, d, 1000)
	must(t, d.Flush()) // into sstables: reads go to the files
	vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
	must(t, err)
	fs.Fail.Store(true)
	failed := 0
	for k := range int32(1000) {
		if _, _, err := vs.Get(intKN(k)); err != nil {
			if !errors.Is(err, pebbletest.ErrRead) {
				t.Fatalf("key %d: error %v does not wrap the disk's", k, err)
			}
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no look-up failed while the disk failed")
	}
	fs.Fail.Store(false)
	checkFilled(t, d, 1000)
	t.Logf("%d of 1000 look-ups failed while reads failed", failed)
}

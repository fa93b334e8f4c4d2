package pebbletest

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// readFile opens name on fs and reads it, returning the error of either
// (opening is a read too).
func readFile(fs vfs.FS, name string) error {
	f, err := fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [4]byte
	_, err = f.ReadAt(b[:], 0)
	return err
}

// TestFailingReads: sstable reads fail with ErrRead while Fail is set and
// only then; other files read as usual.
func TestFailingReads(t *testing.T) {
	dir := t.TempDir()
	sst, other := filepath.Join(dir, "000001.sst"), filepath.Join(dir, "MANIFEST-000001")
	for _, name := range []string{sst, other} {
		f, err := vfs.Default.Create(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	fs := NewFailingReads()
	if err := readFile(fs, sst); err != nil {
		t.Fatalf("read before Fail: %v", err)
	}
	fs.Fail.Store(true)
	if err := readFile(fs, sst); !errors.Is(err, ErrRead) {
		t.Fatalf("sstable read while failing: %v, want ErrRead", err)
	}
	if err := readFile(fs, other); err != nil {
		t.Fatalf("other file while failing: %v", err)
	}
	fs.Fail.Store(false)
	if err := readFile(fs, sst); err != nil {
		t.Fatalf("read after Fail cleared: %v", err)
	}
}

package pebblestate

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/qstate/qstate/state"
)

// The writer subprocess of TestKillDuringWrites: the test binary run again
// with these variables set.
const (
	envWriterDir = "QSTATE_PEBBLE_WRITER_DIR"
	envWriterWAL = "QSTATE_PEBBLE_WRITER_WAL"
	killKeys     = 2000
)

// TestMain runs the writer when the test binary is re-executed as one.
func TestMain(m *testing.M) {
	if dir := os.Getenv(envWriterDir); dir != "" {
		os.Exit(runWriter(dir, os.Getenv(envWriterWAL) == "1"))
	}
	os.Exit(m.Run())
}

// killValue is what round r writes to key k: both are in the value, so a
// reader can tell that the value was written to that key.
func killValue(r, k int) int64 { return int64(r)<<32 | int64(k) }

// runWriter writes every key each round, committing every 100 updates, and
// prints "round N" after each; round 1 is flushed before it is announced.
// It runs until killed.
func runWriter(dir string, wal bool) int {
	d, err := Open(dir, Options{WAL: wal, BatchBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for r := 1; ; r++ {
		for k := range killKeys {
			if err := vs.Void().Update(int32(k), killValue(r, k)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			if k%100 == 99 {
				if err := d.Commit(); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 2
				}
			}
		}
		if r == 1 {
			if err := d.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		fmt.Printf("round %d\n", r)
	}
}

// TestKillDuringWrites: a writer process is killed with SIGKILL while it
// writes (after its first round is flushed, during a later one); the
// store then opens, and every key answers a value that was written to
// that key, from round 1 or later: nothing torn, nothing lost that was
// flushed (WAL off), nothing committed lost (WAL on).
func TestKillDuringWrites(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			w := "0"
			if wal {
				w = "1"
			}
			cmd.Env = append(os.Environ(), envWriterDir+"="+dir, envWriterWAL+"="+w)
			out, err := cmd.StdoutPipe()
			must(t, err)
			cmd.Stderr = os.Stderr
			must(t, cmd.Start())
			rounds := make(chan int, 100)
			go func() {
				defer close(rounds)
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					var r int
					if _, err := fmt.Sscanf(sc.Text(), "round %d", &r); err == nil {
						rounds <- r
					}
				}
			}()
			deadline := time.After(30 * time.Second)
			last := 0
			for last < 3 {
				select {
				case r, ok := <-rounds:
					if !ok {
						t.Fatalf("writer exited: %v", cmd.Wait())
					}
					last = r
				case <-deadline:
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
					t.Fatal("writer did not finish 3 rounds in 30s")
				}
			}
			must(t, cmd.Process.Kill()) // SIGKILL, while it writes round last+1
			_ = cmd.Wait()
			for range rounds {
			}

			start := time.Now()
			d, err := Open(dir, Options{WAL: wal})
			must(t, err)
			defer d.Close()
			vs, err := NewValueState(d, "v", state.Int, state.Void, state.Long)
			must(t, err)
			t.Logf("reopened in %v after round %d", time.Since(start), last)
			newest := 0
			for k := range killKeys {
				v, found, err := vs.Get(intKN(int32(k)))
				if err != nil || !found || len(v) != 8 {
					t.Fatalf("key %d: %x, %v, %v", k, v, found, err)
				}
				x := int64(binary.BigEndian.Uint64(v))
				r, kk := int(x>>32), int(x&0xffffffff)
				if kk != k || r < 1 {
					t.Fatalf("key %d holds %x: round %d, key %d (never written to it)", k, v, r, kk)
				}
				if wal && r < last {
					t.Fatalf("WAL on: key %d holds round %d, but round %d was committed", k, r, last)
				}
				newest = max(newest, r)
			}
			t.Logf("keys hold rounds up to %d", newest)
		})
	}
}

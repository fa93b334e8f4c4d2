package javatest

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestRun: the program compiles once, runs with arguments and standard
// input, and its output comes back.
func TestRun(t *testing.T) {
	out := TestData.Run(t, time.Minute, strings.NewReader("hello\nwörld\n"), "Echo", "a", "b c")
	want := "ARG a\nARG b c\nIN HELLO\nIN WÖRLD\n"
	if string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
	first := TestData.Classes(t)
	if again := TestData.Classes(t); again != first {
		t.Errorf("compiled twice: %s, then %s", first, again)
	}
	if _, err := os.Stat(first + "/Echo.class"); err != nil {
		t.Errorf("no Echo.class: %v", err)
	}
}

// TestCommandFailure: a program that fails shows its exit status.
func TestCommandFailure(t *testing.T) {
	cmd := TestData.Command(t.Context(), t, "Echo", "fail")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "asked to fail") {
		t.Errorf("err %v, output %q: want exit status 3", err, out)
	}
}

// TestMissingSources: a directory without Java sources fails, naming it.
func TestMissingSources(t *testing.T) {
	p := New(t.TempDir())
	p.once.Do(p.compile)
	if p.skip == "" && (p.err == nil || !strings.Contains(p.err.Error(), "no Java sources")) {
		t.Errorf("err = %v, want no Java sources", p.err)
	}
}

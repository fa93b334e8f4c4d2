package javatest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Flags start the JVM quickly: the programs are tiny, start-up is the
// cost (C1 only, the serial collector).
var Flags = []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}

// compileTimeout bounds one javac run.
const compileTimeout = 3 * time.Minute

var (
	mainMu  sync.Mutex
	inMain  bool     // Main is running the tests
	tempDir []string // directories to remove when Main's tests end
)

// Main runs the tests of m and removes what the Programs compiled. Call it
// from TestMain: func TestMain(m *testing.M) { javatest.Main(m) }. It
// exits the process with the tests' exit code.
func Main(m *testing.M) {
	mainMu.Lock()
	inMain = true
	mainMu.Unlock()
	code := m.Run()
	mainMu.Lock()
	for _, d := range tempDir {
		_ = os.RemoveAll(d)
	}
	mainMu.Unlock()
	os.Exit(code)
}

// Program is the Java sources below one directory, compiled together.
type Program struct {
	src string

	once    sync.Once
	classes string // the compiled classes
	java    string // the java launcher
	skip    string // why the tests skip (no JDK)
	err     error  // a compile failure
}

// TestData is the Program of the Java below testdata/java of the package
// under test (go test runs a package's tests in its directory): where
// every package keeps its Java stubs and programs.
var TestData = New(filepath.Join("testdata", "java"))

// New returns the Program of every .java file below dir (walked
// recursively, so stubs in package directories come along).
func New(dir string) *Program { return &Program{src: dir} }

// compile finds javac and java and compiles the sources, once.
func (p *Program) compile() {
	javac, err := exec.LookPath("javac")
	if err != nil {
		p.skip = "no JDK: javac is not on PATH"
		return
	}
	if p.java, err = exec.LookPath("java"); err != nil {
		p.skip = "no JDK: java is not on PATH"
		return
	}
	var srcs []string
	err = filepath.WalkDir(p.src, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".java") {
			srcs = append(srcs, path)
		}
		return err
	})
	if err != nil || len(srcs) == 0 {
		p.err = fmt.Errorf("javatest: no Java sources below %s: %v", p.src, err)
		return
	}
	mainMu.Lock()
	ok := inMain
	mainMu.Unlock()
	if !ok {
		p.err = fmt.Errorf("javatest: the package's TestMain must call javatest.Main (it removes the compiled classes)")
		return
	}
	dir, err := os.MkdirTemp("", "javatest-")
	if err != nil {
		p.err = fmt.Errorf("javatest: %w", err)
		return
	}
	mainMu.Lock()
	tempDir = append(tempDir, dir)
	mainMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	args := []string{"-J" + Flags[0], "-J" + Flags[1], "-d", dir}
	if out, err := exec.CommandContext(ctx, javac, append(args, srcs...)...).CombinedOutput(); err != nil {
		p.err = fmt.Errorf("javac %s: %v\n%s", p.src, err, out)
		return
	}
	p.classes = dir
}

// Classes compiles the Program on first use and returns the directory of
// its classes. It skips t when no JDK is installed and fails t when the
// sources do not compile.
func (p *Program) Classes(t testing.TB) string {
	t.Helper()
	p.once.Do(p.compile)
	if p.skip != "" {
		t.Skipf("%s: cannot run the Java programs of %s", p.skip, p.src)
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p.classes
}

// Command returns the command that runs class with args (the JVM flags
// and class path set), bound to ctx. It skips or fails t as Classes does.
func (p *Program) Command(ctx context.Context, t testing.TB, class string, args ...string) *exec.Cmd {
	t.Helper()
	classes := p.Classes(t)
	full := append(append(append([]string{}, Flags...), "-cp", classes, class), args...)
	return exec.CommandContext(ctx, p.java, full...)
}

// Run runs class with args and stdin (nil: none) and returns what it wrote
// to stdout. It fails t, with the program's stderr, when the program fails
// or does not end within timeout.
func (p *Program) Run(t testing.TB, timeout time.Duration, stdin io.Reader, class string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := p.Command(ctx, t, class, args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java %s: %v\n%s", class, err, stderr.String())
	}
	return out
}

package state

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/qstate/qstate/internal/javatest"
)

// The Java of javatest.TestData (testdata/java) is HashCodes.
func TestMain(m *testing.M) { javatest.Main(m) }

// runJava runs class with input on stdin and returns its output lines. It
// skips the test when no JDK is installed (CI installs one).
func runJava(t *testing.T, class, input string) []string {
	t.Helper()
	out := javatest.TestData.Run(t, time.Minute, strings.NewReader(input), class)
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// randomString mixes ASCII, Latin, BMP (no surrogates) and supplementary
// characters.
func randomString(rng *rand.Rand) string {
	var sb strings.Builder
	for n := rng.IntN(12); n > 0; n-- {
		switch rng.IntN(4) {
		case 0:
			sb.WriteRune(rune(rng.IntN(0x80)))
		case 1:
			sb.WriteRune(rune(0x80 + rng.IntN(0x780)))
		case 2:
			r := rune(0x800 + rng.IntN(0xffff-0x800))
			if utf16.IsSurrogate(r) {
				r = 0x4e2d
			}
			sb.WriteRune(r)
		default:
			sb.WriteRune(rune(0x10000 + rng.IntN(0x10ffff-0x10000)))
		}
	}
	return sb.String()
}

// TestJavaHashCodes checks HashCode (and Java's canonical float bits)
// against the JVM for random strings, longs, ints, doubles and floats,
// NaN payloads and signed zeros included.
func TestJavaHashCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var in strings.Builder
	var want []func(got string) error
	for i := 0; i < 300; i++ {
		s := randomString(rng)
		var hexUnits strings.Builder
		for _, u := range utf16.Encode([]rune(s)) {
			fmt.Fprintf(&hexUnits, "%04x", u)
		}
		fmt.Fprintf(&in, "S %s\n", hexUnits.String())
		want = append(want, expect(fmt.Sprintf("%d %d", String.HashCode(s), utf16Len(s)), "String %q", s))

		l := int64(rng.Uint64())
		fmt.Fprintf(&in, "L %d\n", l)
		want = append(want, expect(strconv.Itoa(int(Long.HashCode(l))), "Long %d", l))

		n := int32(rng.Uint32())
		fmt.Fprintf(&in, "I %d\n", n)
		want = append(want, expect(strconv.Itoa(int(Int.HashCode(n))), "Integer %d", n))
	}
	doubles := []uint64{0, 1 << 63, math.Float64bits(1.5), math.Float64bits(math.Inf(-1)), 0x7ff8000000000000, 0x7ff0000000000001, 0xfff8000000000123}
	floats := []uint32{0, 1 << 31, math.Float32bits(1.5), 0x7fc00000, 0x7f800001, 0xffc00123}
	for i := 0; i < 200; i++ {
		doubles = append(doubles, rng.Uint64())
		floats = append(floats, rng.Uint32())
	}
	for _, bits := range doubles {
		d := math.Float64frombits(bits)
		fmt.Fprintf(&in, "D %x\n", bits)
		canon := Double.Append(nil, d)
		want = append(want, expect(fmt.Sprintf("%d %x", Double.HashCode(d), beUint64(t, canon)), "Double bits %x", bits))
	}
	for _, bits := range floats {
		f := math.Float32frombits(bits)
		fmt.Fprintf(&in, "F %x\n", bits)
		c := Float.Append(nil, f)
		want = append(want, expect(fmt.Sprintf("%d %x", Float.HashCode(f), uint32(c[0])<<24|uint32(c[1])<<16|uint32(c[2])<<8|uint32(c[3])), "Float bits %x", bits))
	}
	lines := runJava(t, "HashCodes", in.String())
	if len(lines) != len(want) {
		t.Fatalf("java answered %d lines, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		if err := want[i](line); err != nil {
			t.Error(err)
		}
	}
}

func expect(ours string, format string, args ...any) func(string) error {
	return func(java string) error {
		if java != ours {
			return fmt.Errorf("%s: Java %q, Go %q", fmt.Sprintf(format, args...), java, ours)
		}
		return nil
	}
}

package configcheck

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var errTest = errors.New("pkg: invalid config")

func TestProblems(t *testing.T) {
	p := New(errTest)
	if err := p.Err(); err != nil {
		t.Fatalf("no problem recorded: Err() = %v, want nil", err)
	}
	NonNegative(p, "Size", 0)
	NonNegative(p, "Wait", time.Second)
	if err := p.Err(); err != nil {
		t.Fatalf("zero and positive values: Err() = %v, want nil", err)
	}
	inner := errors.New("inner")
	NonNegative(p, "Size", -3)
	NonNegative(p, "Wait", -2*time.Second)
	p.Addf("Mode %d is unknown", 7)
	p.Add("Addr", inner)
	parsed := fmt.Errorf("%w: port %q not in 0..65535", errTest, "70000")
	p.AddWrapped(parsed)
	err := p.Err()
	if !errors.Is(err, errTest) || !errors.Is(err, inner) || !errors.Is(err, parsed) {
		t.Fatalf("Err() = %v: want it to wrap the sentinel and the field's error", err)
	}
	want := "pkg: invalid config: Size -3 is negative\n" +
		"pkg: invalid config: Wait -2s is negative\n" +
		"pkg: invalid config: Mode 7 is unknown\n" +
		"pkg: invalid config: Addr: inner\n" +
		"pkg: invalid config: port \"70000\" not in 0..65535"
	if got := err.Error(); got != want {
		t.Fatalf("Err() =\n%s\nwant\n%s", got, want)
	}
}

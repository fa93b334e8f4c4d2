package enumname

import (
	"errors"
	"testing"
)

type color int32

const (
	red color = iota + 1
	green
	blue
)

var errBad = errors.New("pkg: bad argument")

var colors = Table[color]{
	Type:       "color",
	Names:      []string{red: "red", green: "green", blue: "blue"},
	Aliases:    map[string]color{"crimson": red},
	IgnoreCase: true,
	What:       "color",
	Err:        errBad,
}

func TestString(t *testing.T) {
	for v, want := range map[color]string{red: "red", blue: "blue", 0: "color(0)", 4: "color(4)", -1: "color(-1)"} {
		if got := colors.String(v); got != want {
			t.Errorf("String(%d) = %q, want %q", int(v), got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for s, want := range map[string]color{"red": red, "GREEN": green, "Blue": blue, "crimson": red} {
		got, err := colors.Parse(s)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	_, err := colors.Parse("mauve")
	if !errors.Is(err, errBad) {
		t.Fatalf("Parse(mauve): %v, want an error wrapping errBad", err)
	}
	if want := `pkg: bad argument: unknown color "mauve" (want red, green or blue)`; err.Error() != want {
		t.Fatalf("Parse(mauve) = %q, want %q", err, want)
	}
	exact := colors
	exact.IgnoreCase = false
	if _, err := exact.Parse("RED"); err == nil {
		t.Fatal("Parse(RED) with IgnoreCase false: no error")
	}
	var c color
	if err := colors.UnmarshalText([]byte("blue"), &c); err != nil || c != blue {
		t.Fatalf("UnmarshalText(blue) = %v, %v", c, err)
	}
	if err := colors.UnmarshalText([]byte(""), &c); err == nil || c != blue {
		t.Fatalf("UnmarshalText(\"\") = %v, %v: want an error and c unchanged", c, err)
	}
}

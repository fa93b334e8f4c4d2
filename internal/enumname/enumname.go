package enumname

import (
	"fmt"
	"strconv"
	"strings"
)

// Table names the values of the enum E.
type Table[E ~int | ~int32] struct {
	// Type is E's Go name: a value without a name prints as Type(v).
	Type string
	// Names[v] is the name of the value v ("" for a value without one).
	Names []string
	// Aliases are further names Parse accepts (not printed).
	Aliases map[string]E
	// IgnoreCase makes Parse ignore the case of its text.
	IgnoreCase bool
	// What says what a value is, in Parse's error: "unknown <What> ...".
	What string
	// Err is the sentinel Parse's error wraps.
	Err error
}

// String returns the name of v, or Type(v) when v has none.
func (t *Table[E]) String(v E) string {
	if v >= 0 && int64(v) < int64(len(t.Names)) && t.Names[v] != "" {
		return t.Names[v]
	}
	return t.Type + "(" + strconv.FormatInt(int64(v), 10) + ")"
}

// Parse returns the value named s (a name or an alias). For any other
// text it returns an error wrapping Err: "unknown <What> "s" (want a, b
// or c)".
func (t *Table[E]) Parse(s string) (E, error) {
	key := s
	if t.IgnoreCase {
		key = strings.ToLower(s)
	}
	for v, name := range t.Names {
		if name != "" && name == key {
			return E(v), nil
		}
	}
	if v, ok := t.Aliases[key]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("%w: unknown %s %q (want %s)", t.Err, t.What, s, t.want())
}

// UnmarshalText sets *v to the value named b (see Parse), for the
// enum's encoding.TextUnmarshaler.
func (t *Table[E]) UnmarshalText(b []byte, v *E) error {
	x, err := t.Parse(string(b))
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// want lists the names: "a, b or c".
func (t *Table[E]) want() string {
	var names []string
	for _, n := range t.Names {
		if n != "" {
			names = append(names, n)
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

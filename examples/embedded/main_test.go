package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestRun runs the example and checks its answers against counts taken
// from the event stream itself.
func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	clicks := map[string]int{}
	perPage := map[string]map[string]int{}
	last := map[string]view{}
	for _, v := range events() {
		clicks[v.user]++
		if perPage[v.user] == nil {
			perPage[v.user] = map[string]int{}
		}
		perPage[v.user][v.page]++
		last[v.user] = v
	}
	got := out.String()
	// Split the output into blocks, one per unindented header line.
	blocks := map[string]string{}
	var cur string
	for _, line := range strings.SplitAfter(got, "\n") {
		if !strings.HasPrefix(line, " ") {
			cur, _, _ = strings.Cut(line, " ")
		}
		blocks[cur] += line
	}
	for _, u := range users {
		want := []string{
			fmt.Sprintf("= %d\n", clicks[u]),
			fmt.Sprintf("= %s for %d ms", last[u].page, last[u].millis),
		}
		for p, n := range perPage[u] {
			want = append(want, fmt.Sprintf(" %s:%d", p, n))
		}
		section := blocks[u]
		for _, w := range want {
			if !strings.Contains(section, w) {
				t.Errorf("%s: output lacks %q:\n%s", u, w, section)
			}
		}
	}
	for _, w := range []string{`mallory: no state for key "mallory"`, "after unregister, clicks is registered: false"} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

package vectors

import "testing"

func TestLoad(t *testing.T) {
	vs, err := All()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, v := range vs {
		counts[v.Kind]++
	}
	// The counts the vectors README states.
	want := map[string]int{"meta": 1, "key_and_namespace": 102, "value": 16, "list": 8, "map": 6,
		"key_group": 68, "murmur_hash": 30, "key_group_range": 31, "request_frame": 25,
		"internal_request_frame": 8, "response_frame": 9, "request_failure_frame": 10,
		"server_failure_frame": 4, "exchange": 15}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("kind %s: %d vectors, want %d", k, counts[k], n)
		}
	}
	m, err := Kind("meta")
	if err != nil {
		t.Fatal(err)
	}
	if got := m[0].Int("protocol_version"); got != 0x79a1b710 {
		t.Errorf("protocol_version = %#x", got)
	}
}

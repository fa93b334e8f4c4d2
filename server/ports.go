package server

import (
	"fmt"
	"strconv"
	"strings"
)

// maxPortCandidates bounds how many ports one Addr may list, so a hostile or
// mistyped range cannot make Serve try for long: every port number once.
const maxPortCandidates = 1 << 16

// parseAddr splits "host:ports" into the host and the candidate ports, in
// the order given, each once. Ports is Flink's syntax: "9069",
// "9069-9079", "9069-9079,9090,9100-9105".
func parseAddr(addr string) (host string, ports []int, err error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", nil, fmt.Errorf("%w: address %q has no port", ErrConfig, addr)
	}
	host, spec := addr[:i], addr[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.ContainsAny(host, "[]") {
		return "", nil, fmt.Errorf("%w: address %q: bad host", ErrConfig, addr)
	}
	ports, err = ParsePorts(spec)
	if err != nil {
		return "", nil, fmt.Errorf("address %q: %w", addr, err)
	}
	return host, ports, nil
}

// ParsePorts parses Flink's port syntax: a port, a range "a-b" (inclusive)
// or a comma-separated list of both. It returns each port once, in the
// order given. Ports are 0..65535; 0 means "any free port".
func ParsePorts(spec string) ([]int, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("%w: empty port list", ErrConfig)
	}
	var ports []int
	seen := make(map[int]bool)
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parsePort(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("%w: port range %q ends before it starts", ErrConfig, part)
			}
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
		if len(ports) > maxPortCandidates {
			return nil, fmt.Errorf("%w: more than %d ports", ErrConfig, maxPortCandidates)
		}
	}
	return ports, nil
}

func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("%w: port %q not in 0..65535", ErrConfig, s)
	}
	return p, nil
}

package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families are parsed metric families, by name.
type families map[string]*dto.MetricFamily

// parseText parses the Prometheus text exposition format.
func parseText(t testing.TB, r io.Reader) families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return mfs
}

// scrape GETs url (a /metrics page) and parses it.
func scrape(t testing.TB, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	return parseText(t, resp.Body)
}

// gathered gathers m's registry directly.
func gathered(t testing.TB, m *Metrics) families {
	t.Helper()
	return gatheredFrom(t, m.Registry())
}

// gatheredFrom gathers g.
func gatheredFrom(t testing.TB, g prometheus.Gatherer) families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := families{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the metric of family name whose labels are exactly
// labels (name, value pairs), or nil.
func (f families) find(name string, labels ...string) *dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, lp := range m.GetLabel() {
			if labelOf(labels, lp.GetName()) != lp.GetValue() {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// labelOf returns the value paired with name in labels (name, value
// pairs), or "\x00" when name is absent.
func labelOf(labels []string, name string) string {
	for i := 0; i+1 < len(labels); i += 2 {
		if labels[i] == name {
			return labels[i+1]
		}
	}
	return "\x00"
}

// value returns the value of a counter or gauge; it fails the test when
// the series is absent.
func (f families) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := f.find(name, labels...)
	switch {
	case m == nil:
		t.Fatalf("no series %s%v", name, labels)
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("series %s%v is neither counter nor gauge", name, labels)
	return 0
}

// histogram returns a histogram series; it fails the test when absent.
func (f families) histogram(t testing.TB, name string, labels ...string) *dto.Histogram {
	t.Helper()
	m := f.find(name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return m.GetHistogram()
}

package bench

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestWritePlot: the PNG is written and decodes as an image of the size asked for.
func TestWritePlot(t *testing.T) {
	f := newFakeFlink(t, 1000, 8)
	cfg := quick(f.start(t))
	cfg.Requests = 5000
	rep := mustRun(t, cfg)
	cfg.Conns, cfg.Pipeline = 1, 1
	rep2 := mustRun(t, cfg)
	for _, tc := range []struct {
		name    string
		w, h    int
		reports []*Report
	}{
		{"one.png", 640, 400, []*Report{rep}},
		{"two.png", DefaultPlotWidth, DefaultPlotHeight, []*Report{rep, rep2}},
		{"odd.png", 333, 211, []*Report{rep}},
	} {
		path := filepath.Join(t.TempDir(), tc.name)
		if err := WritePlot(path, tc.w, tc.h, tc.reports...); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: %dx%d, want %dx%d", tc.name, b.Dx(), b.Dy(), tc.w, tc.h)
		}
		if os.Getenv("QSTATE_KEEP_PLOT") != "" {
			data, _ := os.ReadFile(path)
			_ = os.WriteFile(filepath.Join(os.TempDir(), tc.name), data, 0o644)
		}
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "x.png"), 0, 10, rep); err == nil {
		t.Error("zero width accepted")
	}
	if err := WritePlot(filepath.Join(t.TempDir(), "x.png"), 10, 10); err == nil {
		t.Error("no reports accepted")
	}
}

func TestPercentileLabels(t *testing.T) {
	for k, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		if got := percentileLabel(k); got != want {
			t.Errorf("percentileLabel(%d) = %q, want %q", k, got, want)
		}
	}
}

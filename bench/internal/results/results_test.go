package results

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %g, want %g", c.in, got, c.want)
		}
	}
	v := []float64{3, 1, 2}
	Median(v)
	if v[0] != 3 {
		t.Error("Median sorted its argument in place")
	}
}

func testDoc() *Doc {
	return &Doc{
		Date: "2026-11-26",
		Scenarios: []Scenario{{Name: "hot", Available: true}, {Name: "crawl-cold", Available: true},
			{Name: "invalidate", Available: false, Note: "no POST /invalidate"}},
		Servers: []string{"edge", "nginx-static", "origin"},
		Cells: []Cell{
			{Scenario: "hot", Server: "edge", RPS: 41000, P99: 0.9},
			{Scenario: "hot", Server: "nginx-static", RPS: 43000, P99: 0.7},
			{Scenario: "hot", Server: "origin", RPS: 133, P99: 61},
			{Scenario: "crawl-cold", Server: "edge", RPS: 131, P99: 45},
			{Scenario: "crawl-cold", Server: "origin", RPS: 133, P99: 40},
		},
	}
}

func TestWriteSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, testDoc()); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + 3 legend boxes + 5 cells × 2 panels
	if rects != 1+3+10 {
		t.Errorf("%d rects, want 14", rects)
	}
	s := b.String()
	for _, want := range []string{"n/a", "41K", "nginx-static hot: 43K", "crawl-cold", "p99 latency"} {
		if !strings.Contains(s, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(s, "invalidate") {
		t.Error("chart draws a scenario that did not run")
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	d := testDoc()
	p := filepath.Join(t.TempDir(), "r.json")
	if err := d.Write(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Cell("hot", "origin"); c == nil || c.RPS != 133 {
		t.Fatalf("round trip lost hot/origin: %+v", c)
	}
	if got.Cell("hot", "varnish") != nil {
		t.Error("Cell found a cell that is not there")
	}
}

func TestShort(t *testing.T) {
	for v, want := range map[float64]string{145000: "145K", 1500: "1.5K", 1000: "1K", 37.4: "37", 2.5: "2.5", 0.84: "0.84", 1.2e6: "1.2M"} {
		if got := short(v); got != want {
			t.Errorf("short(%g) = %q, want %q", v, got, want)
		}
	}
}

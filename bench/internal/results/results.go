// Package results is the machine-readable form of a load-suite run
// (bench/cmd/suite writes it as bench/results/<date>.json) and the SVG
// chart drawn from it (bench/cmd/benchchart).
//
// A Doc holds every measured run (Runs) and, per scenario and server, the
// medians over the rounds (Cells) with their ratios to the reference cell,
// nginx serving the same files from disk.
package results

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// Run kinds: a throughput run is wrk (or, where wrk cannot count distinct
// pages, a closed-loop ratectl run); a latency run is ratectl at a constant
// rate.
const (
	Throughput = "throughput"
	Latency    = "latency"
)

// Doc is one suite run.
type Doc struct {
	// Format is 2 since Run.Errors no longer counts Run.Unsent (1 or
	// absent: it did).
	Format    int               `json:"format"`
	Date      string            `json:"date"`
	Meta      Meta              `json:"meta"`
	Scenarios []Scenario        `json:"scenarios"`
	Servers   []string          `json:"servers"`
	Runs      []Run             `json:"runs"`
	Cells     []Cell            `json:"cells"`
	Checks    []Check           `json:"checks"`
	Profiles  map[string]string `json:"profiles,omitempty"` // server/scenario → perf report excerpt
}

// Meta describes the machine, the software and the settings of a run.
type Meta struct {
	Machine    string            `json:"machine"`
	Versions   map[string]string `json:"versions"`
	Commit     string            `json:"commit"`
	Settings   map[string]string `json:"settings"`
	Commands   []string          `json:"commands"`
	PSIBefore  string            `json:"psi_before"` // /proc/pressure/cpu "some" line at the start
	PSIAfter   string            `json:"psi_after"`
	PSIShare   float64           `json:"psi_share_pct"` // share of the whole run during which some task waited for a CPU
	StartedAt  string            `json:"started_at"`
	WallTimeS  float64           `json:"wall_time_s"`
	SetupTimeS float64           `json:"setup_time_s"`
}

// Scenario names one workload and whether it ran.
type Scenario struct {
	Name      string `json:"name"`
	What      string `json:"what"`
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"` // why not, or what to know
}

// Run is one measured run of one server in one scenario.
type Run struct {
	Scenario string            `json:"scenario"`
	Server   string            `json:"server"`
	Round    int               `json:"round"`
	Kind     string            `json:"kind"` // Throughput or Latency
	Command  string            `json:"command"`
	Requests uint64            `json:"requests"`
	Sent     uint64            `json:"sent,omitempty"` // distinct requests written (ratectl)
	RPS      float64           `json:"rps"`
	Rate     float64           `json:"rate,omitempty"`
	P50      float64           `json:"p50_ms"`
	P99      float64           `json:"p99_ms"`
	P999     float64           `json:"p999_ms"`
	Errors   uint64            `json:"errors"`           // transport errors, timeouts and non-2xx/3xx
	Unsent   uint64            `json:"unsent,omitempty"` // constant-rate requests never sent: the server fell behind the rate
	Renders  int64             `json:"renders"`          // origin renders during the run
	CPU      float64           `json:"cpu_pct"`          // server CPU time over the run, % of one CPU
	USReq    float64           `json:"us_req"`           // server CPU microseconds per response
	CPU1     float64           `json:"cpu1_pct"`         // how busy the load generator's CPU was
	PSI      float64           `json:"psi_pct"`          // share of the run during which some task waited for a CPU
	XCache   map[string]uint64 `json:"x_cache,omitempty"`
}

// Cell is the medians of one server in one scenario, over the rounds.
type Cell struct {
	Scenario  string  `json:"scenario"`
	Server    string  `json:"server"`
	RPS       float64 `json:"rps"`        // median requests/s of the throughput runs
	WrkP99    float64 `json:"wrk_p99_ms"` // median closed-loop p99 (understates the tail)
	Rate      float64 `json:"rate"`       // the constant rate of the latency runs
	P50       float64 `json:"p50_ms"`     // medians of the constant-rate runs
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Errors    uint64  `json:"errors"`  // over every run
	Unsent    uint64  `json:"unsent"`  // over the latency runs: requests the server fell too far behind to be sent
	Renders   int64   `json:"renders"` // over every run
	Expect    string  `json:"expect"`  // what Renders must be, e.g. "0", "= distinct URLs (3000)", "1 per run"
	RendersOK bool    `json:"renders_ok"`
	USReq     float64 `json:"us_req"`    // median server CPU per response
	RSSMiB    float64 `json:"rss_mib"`   // peak RSS (VmHWM) of the server's processes during the scenario
	Ref       string  `json:"ref"`       // the reference cell of the ratios, "nginx-static/hot"
	RPSRatio  float64 `json:"rps_ratio"` // RPS / the reference's
	P99Ratio  float64 `json:"p99_ratio"`
	CPURatio  float64 `json:"cpu_ratio"` // USReq / the reference's: above 1 costs more CPU per request
}

// Check is one target of the issue, judged.
type Check struct {
	What  string  `json:"what"`
	Want  string  `json:"want"`
	Got   string  `json:"got"`
	Pass  bool    `json:"pass"`
	Ratio float64 `json:"ratio,omitempty"`
}

// Median returns the median of v (the mean of the middle two for an even
// count), or 0 for none (JSON has no NaN).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Cell returns the cell of server in scenario, or nil.
func (d *Doc) Cell(scenario, server string) *Cell {
	for i := range d.Cells {
		if d.Cells[i].Scenario == scenario && d.Cells[i].Server == server {
			return &d.Cells[i]
		}
	}
	return nil
}

// Write writes d as indented JSON to path.
func (d *Doc) Write(path string) error {
	d.Format = CurrentFormat
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// CurrentFormat is the Format Write records.
const CurrentFormat = 2

// Read reads a Doc written by Write, brought to the current format.
func Read(r io.Reader) (*Doc, error) {
	var d Doc
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if d.Format < 2 {
		for i := range d.Runs {
			if u := d.Runs[i].Unsent; u <= d.Runs[i].Errors {
				d.Runs[i].Errors -= u
			}
		}
	}
	d.Format = CurrentFormat
	return &d, nil
}

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/pregen/edge/bench/internal/results"
)

// markdown renders the results file: the setting, the table of medians
// with their ratios to nginx-static, the targets, the exact commands and
// every raw run.
func (s *suite) markdown() string {
	d := &s.doc
	o := s.opt
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s: edge vs nginx static, nginx proxy_cache, Varnish and the origin\n\n", d.Date)
	p("Written by `bench/cmd/suite` (issue 3); the chart is [`%s.svg`](%s.svg), the machine-readable results [`%s.json`](%s.json).\n\n",
		d.Date, d.Date, d.Date, d.Date)
	p("**Machine:** %s. **Software:** %s; %s; %s; %s; edge `%s`. **Code:** `%s`.\n\n", d.Meta.Machine,
		d.Meta.Versions["go"], d.Meta.Versions["wrk"], d.Meta.Versions["nginx"], d.Meta.Versions["varnish"],
		d.Meta.Versions["edge"], d.Meta.Commit)
	p("**CPU pressure** (`/proc/pressure/cpu`): at the start `%s`; at the end `%s`. Some task waited for a CPU during %.0f %% of the suite's %.0f s (`psi` of each run below). ",
		d.Meta.PSIBefore, d.Meta.PSIAfter, d.Meta.PSIShare, d.Meta.WallTimeS)
	p("Page generation before the rounds: %s.\n\n", d.Meta.Settings["generation"])
	p("**Setting.** Every server is pinned to CPU 0 (`taskset -c 0`): edge with `GOMAXPROCS=1`, nginx with one worker, varnishd with one thread pool, the demo origin. ")
	p("The load generators are pinned to CPU 1: wrk 4.1 (`-t1`) for throughput, `bench/cmd/ratectl` at a constant rate for latency (latency counted from each request's due time, so coordinated omission does not flatter anyone). ")
	p("The same %s-byte page body comes from every server (checked before the rounds). ", d.Meta.Settings["page bytes"])
	p("Each round runs every server once, a different one first each round; the tables give the median of %d rounds of %s. ", o.rounds, o.duration)
	p("Settings: ")
	var keys []string
	for k := range d.Meta.Settings {
		if k != "generation" && k != "page bytes" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			p("; ")
		}
		p("%s %s", k, d.Meta.Settings[k])
	}
	p(".\n\n")

	p("## Command\n\n```sh\n%s\n```\n\n", strings.Join(d.Meta.Commands, "\n"))

	p("## Results\n\n")
	p("Ratios (×) are to nginx-static in the same scenario; where nginx-static cannot take part (it cannot make a new page or pass a logged-in user through), to its `hot` figure, marked †. ")
	p("*capacity* is what one core would serve at the measured CPU cost per request (10⁶ / µs per request): it compares servers even when one wrk thread, not the server, set the req/s. ")
	p("Latency percentiles are from the constant-rate runs (the rate is in the column); *wrk p99* is wrk's closed-loop figure, which understates the tail. ")
	p("*renders* are origin renders over all of the cell's runs; *must be* is what the scenario demands. Peak RSS is VmHWM summed over the server's processes, reset before each scenario%s.\n\n",
		map[bool]string{true: "", false: " (the reset was refused: peaks are since start)"}[!s.rssResetFailed])
	p("*unsent*: requests of the constant-rate runs that were never sent because the server fell behind the rate by more than the 5 s drain (the server could not sustain the rate; they are not errors, but the percentiles exclude them, so read them as a floor).\n\n")
	p("| scenario | server | req/s | × | capacity/core | CPU µs/req | × | rate | p50 ms | p99 ms | p99.9 ms | p99 × | wrk p99 ms | errors | unsent | renders | must be | peak RSS MiB |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, sc := range d.Scenarios {
		if !sc.Available {
			continue
		}
		for _, srv := range d.Servers {
			c := d.Cell(sc.Name, srv)
			if c == nil {
				continue
			}
			dag := ""
			if c.Ref != "" && !strings.HasSuffix(c.Ref, "/"+sc.Name) {
				dag = "†"
			}
			ok := "✓"
			if !c.RendersOK {
				ok = "✗"
			}
			capacity := 0.0
			if c.USReq > 0 {
				capacity = 1e6 / c.USReq
			}
			p("| %s | %s | %.0f | %s%s | %.0f | %.1f | %s%s | %g/s | %.3f | %.3f | %.3f | %s%s | %.3f | %d | %d | %d %s | %s | %.0f |\n",
				sc.Name, srv, c.RPS, x(c.RPSRatio), dag, capacity, c.USReq, x(c.CPURatio), dag, c.Rate, c.P50, c.P99, c.P999,
				x(c.P99Ratio), dag, c.WrkP99, c.Errors, c.Unsent, c.Renders, ok, c.Expect, c.RSSMiB)
		}
	}
	p("\n")

	p("## Targets (issue 3)\n\n| target | want | got | |\n|---|---|---|---|\n")
	for _, c := range d.Checks {
		mark := "**fail**"
		if c.Pass {
			mark = "pass"
		}
		p("| %s | %s | %s | %s |\n", c.What, c.Want, c.Got, mark)
	}
	p("\n")

	p("## Scenarios\n\n")
	for _, sc := range d.Scenarios {
		avail := ""
		if !sc.Available {
			avail = " **Not run.**"
		}
		p("- **%s**: %s.%s", sc.Name, sc.What, avail)
		if sc.Note != "" {
			p(" %s.", sc.Note)
		}
		p("\n")
	}
	p("\n")

	p("## Load generator saturation\n\n")
	p("Median busy share of CPU 1 (the load generator's) during the throughput runs; near 100 %% means wrk, not the server, set the req/s, and CPU 0's share shows how much of the core the server used:\n\n")
	p("| scenario | server | CPU 1 (wrk) | CPU 0 (server) | psi |\n|---|---|---:|---:|---:|\n")
	for _, sc := range d.Scenarios {
		for _, srv := range d.Servers {
			var c1, c0, ps []float64
			for _, r := range d.Runs {
				if r.Scenario == sc.Name && r.Server == srv && r.Kind == results.Throughput {
					c1, c0, ps = append(c1, r.CPU1), append(c0, r.CPU), append(ps, r.PSI)
				}
			}
			if len(c1) > 0 {
				p("| %s | %s | %.0f %% | %.0f %% | %.0f %% |\n", sc.Name, srv, results.Median(c1), results.Median(c0), results.Median(ps))
			}
		}
	}
	p("\n")

	if len(d.Profiles) > 0 {
		p("## Profiles\n\nTwo more (unreported) throughput runs per profiled cell, attached to every process of the server: `perf record -F 999 -g` (where the CPU goes) and `perf trace -s` (system calls per response; tracing slows the server and may drop events under load, so the counts are a floor; compare them between servers). ")
		p("In a VM perf samples on a software clock, so kernel time mostly lands on `pvm_irq_enable`, where interrupts are re-enabled: read the kernel/user split and the cumulative (children) figures rather than the kernel's self-time names.\n\n")
		var ks []string
		for k := range d.Profiles {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			p("### %s\n\n```\n%s```\n\n", k, d.Profiles[k])
		}
	}

	p("## Exact commands\n\nThe servers' configurations are generated by `bench/cmd/suite` (`servers.go`); ports are picked at random on 127.0.0.1. `$BIN` is where `bench/suite.sh` built the binaries. Round 1 of each run:\n\n```sh\n")
	for _, r := range d.Runs {
		if r.Round == 1 {
			p("# %s, %s, %s\n%s\n", r.Scenario, r.Server, r.Kind, r.Command)
		}
	}
	p("```\n\n## Every run\n\n```\n%s\n```\n", strings.Join(s.raw, "\n"))
	return b.String()
}

func x(r float64) string {
	if r == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

// commandLine is how the suite was invoked, for the results.
func commandLine() string {
	return "suite " + strings.Join(os.Args[1:], " ")
}

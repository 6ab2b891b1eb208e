package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printStatus writes the summary edge status prints: traffic, tiers, the
// invalidation queue, the age distribution of the stored pages and the
// sweep's progress and ETA.
func printStatus(w io.Writer, s Status, now time.Time) {
	r := s.Requests
	fmt.Fprintf(w, "edge %s, up %s, origin %s\n", s.Version, span(time.Duration(s.UptimeSeconds)*time.Second), s.Origin)
	fmt.Fprintf(w, "requests     HIT %d  MISS %d  STALE %d  BYPASS %d\n", r["HIT"], r["MISS"], r["STALE"], r["BYPASS"])
	fmt.Fprintf(w, "tiers        memory %d pages (%s), disk %d pages (%s), %d write errors\n",
		s.Memory.Pages, size(s.Memory.Bytes), s.Disk.Pages, size(s.Disk.Bytes), s.Disk.WriteErrors)
	inv := s.Invalidation
	fmt.Fprintf(w, "queue        pending invalidate %d, sweep %d, bulk %d; regenerating %d; dropped %d\n",
		inv.Pending["invalidate"], inv.Pending["sweep"], inv.Pending["bulk"], inv.Regenerating, inv.Dropped)

	a := s.Ages
	fmt.Fprintf(w, "\npage age     %d pages", a.Pages)
	if a.Oldest != nil {
		fmt.Fprintf(w, ", mean %s, oldest %s (generated %s)", span(time.Duration(a.MeanSeconds)*time.Second),
			span(time.Duration(a.OldestSeconds)*time.Second), a.Oldest.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w)
	histogram(w, a.Stored)

	sw := s.Sweep
	fmt.Fprint(w, "\nsweep        ")
	switch {
	case !sw.Enabled:
		fmt.Fprintln(w, "off (sweep.period is 0)")
		return
	case sw.Cycle == 0:
		fmt.Fprintln(w, "starting")
		return
	}
	fmt.Fprintf(w, "every %s; cycle %d", span(time.Duration(sw.PeriodSeconds)*time.Second), sw.Cycle)
	if sw.Started != nil {
		fmt.Fprintf(w, " started %s", sw.Started.Local().Format(time.DateTime))
	}
	fmt.Fprintf(w, ": %d of %d pages (%.1f %%)", sw.Done, sw.Total, sw.Percent)
	switch {
	case sw.Complete && sw.Deadline != nil:
		fmt.Fprintf(w, ", done; next cycle %s (in %s)\n", sw.Deadline.Local().Format(time.DateTime),
			span(max(sw.Deadline.Sub(now), 0)))
	case sw.ETA != nil:
		fmt.Fprintf(w, ", ETA %s (in %s)", sw.ETA.Local().Format(time.DateTime), span(time.Duration(sw.ETASeconds)*time.Second))
		if sw.Behind > 0 {
			fmt.Fprintf(w, ", %d pages behind", sw.Behind)
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintln(w)
	}
}

// histogram draws one line per bucket: its bound, count and a bar.
func histogram(w io.Writer, bs []AgeBucket) {
	var most int64
	for _, b := range bs {
		most = max(most, b.Count)
	}
	for _, b := range bs {
		label := "≤ " + b.Le
		if b.Le == "+Inf" {
			label = "older"
		}
		n := 0
		if most > 0 {
			n = int((b.Count*40 + most - 1) / most)
		}
		fmt.Fprintf(w, "  %-8s %9d  %s\n", label, b.Count, strings.Repeat("█", n))
	}
}

// span writes a duration the way people read ages: 3d 4h, 5h 12m, 42s.
func span(d time.Duration) string {
	d = d.Round(time.Second)
	day := 24 * time.Hour
	switch {
	case d >= day:
		return fmt.Sprintf("%dd %dh", d/day, (d%day)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func size(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/pregen/edge/internal/store"
	"github.com/pregen/edge/internal/storewire"
	"github.com/pregen/edge/proxy"
	"github.com/pregen/edge/sweep"
	"go.yaml.in/yaml/v3"
)

// Interface guards for the sweep wiring.
var (
	_ sweep.Marker = (*store.Store)(nil)
	_ sweep.State  = (*store.Store)(nil)
)

// SweepConfig configures the rolling sweep (the "sweep" section).
type SweepConfig struct {
	// Period: every stored page is regenerated at least once per period,
	// oldest first, paced evenly (pages ÷ period) at sweep priority. Default
	// 168h (7 days); 0 turns the sweep off.
	Period time.Duration `yaml:"period"`
	// Jitter stretches or shrinks each of the sweep's waits by a random
	// fraction of up to this much (0 to 1), so that several servers do
	// not ask the origin in step. Default 0.1; 0 for none.
	Jitter float64 `yaml:"jitter"`
}

// DefaultSweepConfig returns the defaults.
func DefaultSweepConfig() SweepConfig { return SweepConfig{Period: 7 * 24 * time.Hour, Jitter: 0.1} }

// UnmarshalYAML reads the section strictly (unknown keys are errors) and
// takes a bare "period: 0", as the docs write it, for 0s (off).
func (c *SweepConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "period":
				if v.Kind == yaml.ScalarNode && v.Tag == "!!int" && v.Value == "0" {
					v.Tag, v.Value = "!!str", "0s"
				}
			case "jitter":
			default:
				return fmt.Errorf("line %d: field %s not found in the sweep section (period, jitter)", k.Line, k.Value)
			}
		}
	}
	type plain SweepConfig
	return n.Decode((*plain)(c))
}

func (c SweepConfig) validate(bad func(key, format string, args ...any) error) error {
	switch {
	case c.Period < 0:
		return bad("sweep.period", "must be a duration such as 168h, or 0 to turn the sweep off")
	case c.Period > 0 && c.Period < time.Minute:
		return bad("sweep.period", "must be at least 1m (or 0 to turn the sweep off)")
	case c.Jitter < 0 || c.Jitter > 1:
		return bad("sweep.jitter", "must be between 0 and 1")
	}
	return nil
}

// newSweeper builds the sweep; wake tells the regeneration workers that
// pages were marked.
func newSweeper(c SweepConfig, st *store.Store, wake func(), log *slog.Logger) *sweep.Sweeper {
	return &sweep.Sweeper{
		Index: storewire.Ages{Store: st}, Marks: st, State: st,
		Period: c.Period, Jitter: c.Jitter, OnMarked: wake, Logger: log,
	}
}

// ageBounds are the histogram bounds of both page-age histograms.
var ageBounds = proxy.AgeBounds[:]

// AgeBucket is one bar of an age histogram in /status: the pages (or
// pages served) whose age is within the bucket, not cumulative.
type AgeBucket struct {
	Le        string  `json:"le"`         // upper bound, e.g. "1h", "7d", "+Inf"
	LeSeconds float64 `json:"le_seconds"` // 0 for +Inf
	Count     int64   `json:"count"`
}

// AgesStatus is the page-age part of /status.
type AgesStatus struct {
	// Stored pages by age (hour resolution), and the oldest one.
	Pages         int64       `json:"pages"`
	OldestSeconds int64       `json:"oldest_seconds"`
	Oldest        *time.Time  `json:"oldest,omitempty"`
	MeanSeconds   int64       `json:"mean_seconds"`
	Stored        []AgeBucket `json:"stored"`
	// Pages served from a tier (HIT, STALE) by age at the time, since start.
	Served []AgeBucket `json:"served"`
}

// SweepStatus is the sweep part of /status.
type SweepStatus struct {
	Enabled       bool       `json:"enabled"`
	PeriodSeconds int64      `json:"period_seconds"`
	Cycle         int64      `json:"cycle"`
	Started       *time.Time `json:"started,omitempty"`
	Deadline      *time.Time `json:"deadline,omitempty"`
	Done          int64      `json:"done"`  // pages of the cycle marked for regeneration
	Total         int64      `json:"total"` // pages in the cycle
	Percent       float64    `json:"percent"`
	Behind        int64      `json:"behind"`   // pages the even pace is late on
	Complete      bool       `json:"complete"` // walked; the next cycle starts at the deadline
	ETA           *time.Time `json:"eta,omitempty"`
	ETASeconds    int64      `json:"eta_seconds"`
	Marked        int64      `json:"marked"` // pages marked since start
	LastMark      *time.Time `json:"last_mark,omitempty"`
}

func ageLabel(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// bars turns cumulative counts (one per ageBounds) and a total into
// per-bucket bars, the last one +Inf.
func bars(cum func(i int) int64, total int64) []AgeBucket {
	out := make([]AgeBucket, 0, len(ageBounds)+1)
	var prev int64
	for i, b := range ageBounds {
		c := cum(i)
		out = append(out, AgeBucket{Le: ageLabel(b), LeSeconds: b.Seconds(), Count: c - prev})
		prev = c
	}
	return append(out, AgeBucket{Le: "+Inf", Count: total - prev})
}

func (m *Main) agesStatus(now time.Time) AgesStatus {
	as := m.store.Ages(now, ageBounds)
	st := AgesStatus{
		Pages:  as.Count,
		Stored: bars(func(i int) int64 { return as.Cumulative[i] }, as.Count),
	}
	if as.Count > 0 {
		st.MeanSeconds = int64(as.Sum / float64(as.Count))
	}
	if old, err := m.store.Oldest(); err == nil && !old.IsZero() {
		st.Oldest = &old
		st.OldestSeconds = int64(max(now.Sub(old), 0).Seconds())
	}
	sa := m.proxy.Stats().ServedAge
	st.Served = bars(func(i int) int64 { return int64(sa.Cumulative[i]) }, int64(sa.Count))
	return st
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (m *Main) sweepStatus(now time.Time) SweepStatus {
	s := m.sweeper.Status(now)
	st := SweepStatus{
		Enabled: s.Enabled, PeriodSeconds: int64(s.Period.Seconds()), Cycle: s.Cycle,
		Started: timePtr(s.Start), Deadline: timePtr(s.Deadline), Done: s.Done, Total: s.Total,
		Behind: s.Behind, Complete: s.Complete, ETA: timePtr(s.ETA), Marked: s.Marked, LastMark: timePtr(s.LastMark),
	}
	switch {
	case s.Complete || (s.Total == 0 && s.Cycle > 0):
		st.Percent = 100
	case s.Total > 0:
		st.Percent = float64(s.Done) * 100 / float64(s.Total)
	}
	if !s.ETA.IsZero() {
		st.ETASeconds = int64(max(s.ETA.Sub(now), 0).Seconds())
	}
	return st
}

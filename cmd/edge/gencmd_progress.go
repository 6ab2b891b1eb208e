package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/pregen/edge/gen"
	"github.com/schollz/progressbar/v3"
)

// genLogEvery is how often -progress log prints a line.
var genLogEvery = 5 * time.Second

// genReporter shows a bulk run's progress: a bar on a terminal (rate,
// ETA, failures), or a plain log line every genLogEvery, or nothing. Its
// methods are safe for concurrent use.
type genReporter struct {
	mode   string // "bar", "log" or "none"
	w      io.Writer
	logger *slog.Logger
	bar    *progressbar.ProgressBar // mode "bar"
	total  atomic.Int64             // entries in the source; 0 while unknown
}

// newGenReporter resolves mode "auto" (a bar when w is a terminal).
func newGenReporter(mode string, w io.Writer, logger *slog.Logger) *genReporter {
	if mode == "auto" {
		mode = "log"
		if isTerminal(w) {
			mode = "bar"
		}
	}
	r := &genReporter{mode: mode, w: w, logger: logger}
	if mode == "bar" {
		r.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("edge gen"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("entries"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	return r
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// setTotal sets the number of entries the run will read (for the ETA).
func (r *genReporter) setTotal(n int64) {
	r.total.Store(n)
	if r.bar != nil && n > 0 {
		r.bar.ChangeMax64(n)
	}
}

// follow updates the display from progress until the returned function is
// called.
func (r *genReporter) follow(progress func() gen.Summary) (stop func()) {
	if r.mode == "none" {
		return func() {}
	}
	every := genLogEvery
	if r.mode == "bar" {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.update(progress())
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); <-ended }
}

// update shows one snapshot.
func (r *genReporter) update(s gen.Summary) {
	switch r.mode {
	case "bar":
		_ = r.bar.Set64(s.Done())
		r.bar.Describe(fmt.Sprintf("ok %d · unchanged %d · skipped %d · failed %d", s.OK, s.Unchanged, s.Skipped, s.Failed+s.SourceErrors))
	case "log":
		args := []any{"done", s.Done(), "ok", s.OK, "unchanged", s.Unchanged, "skipped", s.Skipped,
			"failed", s.Failed, "not_storable", s.NotStorable, "refused", s.Refused,
			"pages_per_s", fmt.Sprintf("%.1f", s.PagesPerSecond())}
		if total := r.total.Load(); total > 0 {
			args = append(args, "total", total)
			if done := s.Done(); done > 0 && done < total {
				eta := time.Duration(float64(s.Elapsed) * float64(total-done) / float64(done))
				args = append(args, "eta", eta.Round(time.Second).String())
			}
		}
		r.logger.Info("edge gen progress", args...)
	}
}

// finish shows the final state and leaves the terminal clean for the
// summary.
func (r *genReporter) finish(s gen.Summary) {
	if r.bar == nil {
		return
	}
	r.update(s)
	_ = r.bar.Exit()
	fmt.Fprintln(r.w)
}

// logHandler wraps h so that, with a bar on screen, the bar is cleared
// before a log line is written (it is drawn again on its next update).
func (r *genReporter) logHandler(h slog.Handler) slog.Handler {
	if r.bar == nil {
		return h
	}
	return barClearing{h, r.bar}
}

type barClearing struct {
	slog.Handler
	bar *progressbar.ProgressBar
}

func (b barClearing) Handle(ctx context.Context, rec slog.Record) error {
	_ = b.bar.Clear()
	return b.Handler.Handle(ctx, rec)
}

func (b barClearing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return barClearing{b.Handler.WithAttrs(attrs), b.bar}
}

func (b barClearing) WithGroup(name string) slog.Handler {
	return barClearing{b.Handler.WithGroup(name), b.bar}
}

package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// ErrUsage marks the errors Main returns for bad command-line arguments. Main
// has already written the problem and the usage to stderr.
var ErrUsage = errors.New("demo: usage")

// shutdownTimeout bounds how long Main waits for open connections on exit.
const shutdownTimeout = 10 * time.Second

// Main runs the demo site as a command. It parses args (-listen, -pages,
// -latency, -workers, -seed, -edge-admin, -edge-token), listens, logs the
// address to stderr, and serves until ctx is done, then shuts down
// gracefully: renders waiting for a slot or for their latency are cut short
// with a 503.
//
// It returns an error wrapping ErrUsage for bad arguments (and also
// flag.ErrHelp for -h), an error if it cannot listen, and nil after a clean
// shutdown.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-origin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8000", "`address` to listen on")
	pages := fs.Int("pages", 600000, "number of detail pages (events, people, topics); at least 3")
	latency := fs.Duration("latency", 30*time.Millisecond, "time each render takes; 0 for none")
	workers := fs.Int("workers", 4, "renders at once; more requests queue")
	seed := fs.Int64("seed", 1, "content seed")
	edgeAdmin := fs.String("edge-admin", "", "edge's admin API `URL` (http://127.0.0.1:9091), told about the pages POST /_origin/change touches")
	edgeToken := fs.String("edge-token", "", "bearer `token` for -edge-admin")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	var bad string
	switch {
	case fs.NArg() > 0:
		bad = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	case *pages < 3:
		bad = "-pages must be at least 3"
	case *latency < 0:
		bad = "-latency must not be negative"
	case *workers < 1:
		bad = "-workers must be at least 1"
	}
	if bad != "" {
		fmt.Fprintln(stderr, bad)
		fs.Usage()
		return fmt.Errorf("%w: %s", ErrUsage, bad)
	}

	c := Config{Pages: *pages, Latency: *latency, Workers: *workers, Seed: *seed,
		EdgeAdminURL: *edgeAdmin, EdgeToken: *edgeToken}
	if c.Latency == 0 {
		c.Latency = -1 // Config's zero means the default; the flag's means none
	}
	site := New(c)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &fasthttp.Server{
		Handler:      site.Handler,
		Name:         "demo-origin",
		ReadTimeout:  time.Minute,
		IdleTimeout:  time.Minute,
		Logger:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TCPKeepalive: true,
	}
	log.Info("demo origin listening", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/",
		"pages", *pages, "latency", *latency, "workers", *workers, "seed", *seed)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("demo: serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("demo origin shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err = srv.ShutdownWithContext(sctx)
	// Shutdown does nothing if Serve has not started yet; closing the
	// listener makes a late Serve return at once.
	_ = ln.Close()
	if serr := <-served; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("demo: shutdown: %w", err)
	}
	return nil
}

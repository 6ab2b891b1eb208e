// Command demo-origin serves the deliberately slow demo site (package demo)
// that edge is shown and benchmarked against.
//
// Usage:
//
//	demo-origin [-listen 127.0.0.1:8000] [-pages 600000] [-latency 30ms] [-workers 4] [-seed 1]
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pregen/edge/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run returns the exit status: 0 after a clean shutdown or -h, 2 for bad
// arguments, 1 for anything else.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	err := demo.Main(ctx, args, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, demo.ErrUsage):
		return 2 // Main has printed the problem and the usage
	default:
		slog.New(slog.NewTextHandler(stderr, nil)).Error("demo-origin failed", "err", err)
		return 1
	}
}

package main

import (
	"context"
	"net/http"
	"time"

	"github.com/pregen/edge/bench/internal/child"
)

// proc is one process the soak started (bench/internal/child).
type proc = child.Proc

// start runs argv with its output appended to logPath.
func start(name, logPath string, argv ...string) (*proc, error) {
	return child.Start(name, logPath, nil, argv...)
}

// waitHTTP polls url until it answers 200, for up to limit.
func waitHTTP(ctx context.Context, p *proc, url string, limit time.Duration) error {
	return child.WaitHTTP(ctx, p, url, http.StatusOK, limit)
}

// freePorts returns n ports that nothing on 127.0.0.1 listens on now.
func freePorts(n int) ([]int, error) { return child.FreePorts(n) }

package main

import (
	"context"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-nope"}, 2},
		{[]string{"-workers", "0"}, 2},
		{[]string{"-listen", "127.0.0.1:-1"}, 1},
	} {
		var stderr strings.Builder
		if got := run(context.Background(), c.args, &stderr); got != c.code {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", c.args, got, c.code, stderr.String())
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr strings.Builder
	if got := run(ctx, []string{"-listen", "127.0.0.1:0", "-pages", "10"}, &stderr); got != 0 {
		t.Errorf("run = %d, want 0; stderr:\n%s", got, stderr.String())
	}
	if !strings.Contains(stderr.String(), "listening") {
		t.Errorf("no listening line in %q", stderr.String())
	}
}

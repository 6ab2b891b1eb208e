// Command ratectl loads one HTTP server at a constant rate and reports
// latency measured from each request's due time, so a stall is charged to
// every request queued behind it (no coordinated omission; see package
// bench/internal/loadgen). With -rate 0 it is a closed loop, like wrk, and
// with -count it sends exactly that many requests (every one a new page
// with -pattern seq).
//
//	ratectl -url http://127.0.0.1:8080 -path /events/42 -rate 10000 -d 5s -c 64
//	ratectl -url http://127.0.0.1:8080 -pattern zipf -n 100000 -hot 1000 -rate 10000 -d 5s
//	ratectl -url http://127.0.0.1:8080 -pattern seq -prefix /events/ -start 200001 -count 1000 -c 64
//
// It prints one JSON object (loadgen.Result) on stdout, or a short summary
// with -human. It only accepts loopback addresses; every run is bounded by
// -d or -count, -drain and -timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pregen/edge/bench/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "ratectl:", err)
		os.Exit(1)
	}
}

type headers [][2]string

func (h *headers) String() string { return fmt.Sprint(*h) }

func (h *headers) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ratectl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "server `URL` (http://127.0.0.1:PORT; loopback only)")
	pattern := fs.String("pattern", "fixed", "which pages: fixed (-path), seq, uniform or zipf (over -prefix N)")
	path := fs.String("path", "/events/42", "the page of -pattern fixed")
	prefix := fs.String("prefix", "/events/", "path prefix of seq, uniform and zipf")
	start := fs.Uint64("start", 1, "first page number of seq")
	n := fs.Uint64("n", 100000, "pages 1..N of uniform and zipf")
	hot := fs.Uint64("hot", 1000, "zipf: the hot set, pages 1..HOT")
	share := fs.Float64("share", 0.9, "zipf: share of requests that go to the hot set")
	s := fs.Float64("s", 1.0, "zipf: exponent (page k weighs 1/k^s)")
	seed := fs.Uint64("seed", 42, "random seed (plus the connection number)")
	rate := fs.Float64("rate", 0, "requests per second; 0 for a closed loop")
	dur := fs.Duration("d", 0, "duration (stop scheduling after it)")
	count := fs.Uint64("count", 0, "stop after this many requests")
	conns := fs.Int("c", 64, "connections")
	timeout := fs.Duration("timeout", 10*time.Second, "per request")
	drain := fs.Duration("drain", 0, "how long a backlog may still be sent after -d (default -timeout)")
	human := fs.Bool("human", false, "print a summary instead of JSON")
	var hdr headers
	fs.Var(&hdr, "H", "extra request header `Name: value` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	addr, err := loopbackAddr(*target)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{
		Addr: addr, Rate: *rate, Duration: *dur, Count: *count, Conns: *conns, Header: hdr,
		Timeout: *timeout, Drain: *drain, Seed: *seed,
	}
	switch *pattern {
	case "fixed":
		cfg.Paths = loadgen.Fixed(*path)
	case "seq":
		cfg.Paths = loadgen.Seq(*prefix, *start)
	case "uniform":
		cfg.Paths = loadgen.Uniform(*prefix, 1, *n)
	case "zipf":
		if cfg.Paths, err = loadgen.Zipf(*prefix, *n, *hot, *share, *s); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-pattern must be fixed, seq, uniform or zipf, not %q", *pattern)
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *human {
		_, err = fmt.Fprintf(stdout, "%d requests in %.2fs (%.0f/s), %d errors, %d non-2xx/3xx, %d unsent, %d late\n"+
			"latency from due time: p50 %.3fms p90 %.3fms p99 %.3fms p99.9 %.3fms max %.3fms\nX-Cache %v statuses %v\n",
			res.Requests, res.Seconds, res.RPS, res.Errors, res.Non2xx, res.Unsent, res.Late,
			res.P50, res.P90, res.P99, res.P999, res.Max, res.XCache, res.Statuses)
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}

// loopbackAddr returns host:port of an http URL whose host is a loopback
// IP address; load goes nowhere else.
func loopbackAddr(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return "", fmt.Errorf("-url %q: want http://127.0.0.1:PORT", s)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("-url %q: only loopback addresses are allowed", s)
	}
	return u.Host, nil
}

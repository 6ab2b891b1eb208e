// Command benchchart draws the SVG chart of a load-suite run: requests/s
// and p99 latency per scenario per server, from the JSON that
// bench/cmd/suite writes beside the markdown results.
//
//	benchchart -in bench/results/2026-11-26.json -out bench/results/2026-11-26.svg
//
// Without -out it writes the chart next to -in, with the extension .svg.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/pregen/edge/bench/internal/results"
)

func main() {
	in := flag.String("in", "", "results `file` (JSON) written by bench/cmd/suite")
	out := flag.String("out", "", "SVG `file` to write (default: -in with .svg)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return fmt.Errorf("-in is required")
	}
	if out == "" {
		out = strings.TrimSuffix(in, ".json") + ".svg"
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := results.Read(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var b bytes.Buffer
	if err := results.WriteSVG(&b, d); err != nil {
		return err
	}
	return os.WriteFile(out, b.Bytes(), 0o644)
}

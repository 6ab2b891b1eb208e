// Package fault owns edge's crash points: named places in the write paths
// where a test can make the process kill itself with SIGKILL, to prove
// that a crash exactly there loses or corrupts nothing.
//
// The points are compiled in and inert: unless the EDGE_FAULT environment
// variable is set when the process starts, Point is a load of a nil map and
// a return. EDGE_FAULT is a comma-separated list of point[@n]:kill, for
// example "store.put.after-body-rename:kill" (the first time the point is
// reached) or "store.put.after-temps@3:kill" (the third time). Unknown
// actions are ignored; the only action is kill. Never set it in production.
//
// The points are named where they are placed (internal/store/write.go,
// internal/store/marks.go); docs/security.md lists them.
//
// Point is safe for concurrent use.
package fault

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// EnvVar is the environment variable that arms crash points.
const EnvVar = "EDGE_FAULT"

type arm struct {
	at   int64 // kill on this hit (1 = the first)
	hits atomic.Int64
}

// armed is written once, at package initialisation, and only read after.
var armed = parse(os.Getenv(EnvVar))

func parse(spec string) map[string]*arm {
	if spec == "" {
		return nil
	}
	m := map[string]*arm{}
	for item := range strings.SplitSeq(spec, ",") {
		name, action, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || action != "kill" {
			continue
		}
		a := &arm{at: 1}
		if n, count, ok := strings.Cut(name, "@"); ok {
			if c, err := strconv.ParseInt(count, 10, 64); err == nil && c > 0 {
				name, a.at = n, c
			}
		}
		m[name] = a
	}
	return m
}

// Point marks a crash point. If EDGE_FAULT arms name and this is the hit it
// names, the process kills itself with SIGKILL (no deferred function, no
// buffered write, no shutdown code runs, as with kill -9 from outside).
func Point(name string) {
	if armed == nil {
		return
	}
	a := armed[name]
	if a == nil || a.hits.Add(1) != a.at {
		return
	}
	os.Stderr.WriteString("edge: fault point " + name + ": kill\n")
	kill()
}

//go:build race

package gen

// raceEnabled reports whether the race detector is on: a page then costs
// about 10 ms of CPU (compression and file writes instrumented), so the
// large runs are scaled down.
const raceEnabled = true

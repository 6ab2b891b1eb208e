package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pregen/edge/bench/internal/child"
)

// proc is one process the suite started (bench/internal/child).
type proc = child.Proc

// start runs argv with env added to the suite's environment, pinned to cpu
// (taskset; "" leaves it unpinned), its output in dir/name.log.
func start(dir, name, cpu string, env []string, argv ...string) (*proc, error) {
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	return child.Start(name, filepath.Join(dir, name+".log"), env, argv...)
}

// waitHTTP polls url until it answers with status want, for up to limit.
func waitHTTP(ctx context.Context, p *proc, url string, want int, limit time.Duration) error {
	return child.WaitHTTP(ctx, p, url, want, limit)
}

// freePorts returns n ports that nothing on 127.0.0.1 listens on now.
func freePorts(n int) ([]int, error) { return child.FreePorts(n) }

// tree returns pid and all its descendants.
func tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name:
// [0] is the state, [1] the parent pid, [11] utime, [12] stime.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// cpuTicks returns the user+system clock ticks of pid and its descendants.
func cpuTicks(pid int) int64 {
	var t int64
	for _, p := range tree(pid) {
		if f := statFields(p); len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			t += u + s
		}
	}
	return t
}

// clkTck is the kernel's clock tick rate for /proc/PID/stat times (USER_HZ,
// 100 on every Linux the suite runs on).
const clkTck = 100

// resetPeakRSS resets VmHWM of pid and its descendants to their current
// RSS (writing 5 to clear_refs), so the next peakRSS reads the peak since
// now. It reports whether the kernel allowed it for every process.
func resetPeakRSS(pid int) bool {
	ok := true
	for _, p := range tree(pid) {
		if os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p), []byte("5"), 0) != nil {
			ok = false
		}
	}
	return ok
}

// peakRSS returns the sum of VmHWM of pid and its descendants, in KiB.
func peakRSS(pid int) int64 {
	var kib int64
	for _, p := range tree(pid) {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				kib += n
			}
		}
		f.Close()
	}
	return kib
}

// pressure reads /proc/pressure/cpu: the "some" line and its total
// (microseconds during which some task waited for a CPU).
func pressure() (line string, total int64) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return "unavailable (" + err.Error() + ")", 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(l, "some ") {
			if _, v, ok := strings.Cut(l, "total="); ok {
				total, _ = strconv.ParseInt(v, 10, 64)
			}
			return l, total
		}
	}
	return "no some line", 0
}

// cpuStat returns busy and total jiffies of one CPU from /proc/stat.
func cpuStat(cpu string) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || f[0] != "cpu"+cpu {
			continue
		}
		var v [8]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		// user nice system idle iowait irq softirq steal
		busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		return busy, busy + v[3] + v[4]
	}
	return 0, 0
}

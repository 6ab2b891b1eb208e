package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one row of the CSV: edge's resources at one moment, and the
// traffic since the previous sample.
type sample struct {
	T          float64 // seconds since the traffic started
	Phase      string  // "warm-up", "steady" or "outage"
	RSSKiB     int64   // VmRSS (includes the index's mmap'd file pages)
	AnonKiB    int64   // RssAnon: heap and stacks, what a leak grows
	Goroutines int64   // go_goroutines from /metrics
	FDs        int64   // entries in /proc/PID/fd
	DiskBytes  int64   // allocated bytes under store.root
	Pages      int64   // stored pages (/status disk.pages)
	TmpFiles   int64   // entries in store.root/@edge/tmp
	Requests   uint64  // responses since the previous sample
	Status5xx  uint64  // of which 5xx
	Errors     uint64  // transport errors and timeouts since the previous sample
}

// diskPerPage is disk use per stored page: the store grows by design as
// misses add pages, so this, not DiskBytes, is what must stay flat.
func (s sample) diskPerPage() float64 {
	if s.Pages <= 0 {
		return float64(s.DiskBytes)
	}
	return float64(s.DiskBytes) / float64(s.Pages)
}

var csvHeader = "t_s,phase,rss_kib,rss_anon_kib,goroutines,fds,disk_bytes,pages,disk_bytes_per_page,tmp_files,requests,status_5xx,errors"

func (s sample) csv() string {
	return fmt.Sprintf("%.0f,%s,%d,%d,%d,%d,%d,%d,%.0f,%d,%d,%d,%d", s.T, s.Phase, s.RSSKiB, s.AnonKiB,
		s.Goroutines, s.FDs, s.DiskBytes, s.Pages, s.diskPerPage(), s.TmpFiles, s.Requests, s.Status5xx, s.Errors)
}

// measure reads edge's resources: pid for /proc, admin for /metrics and
// /status, root for the store's directory.
func measure(ctx context.Context, pid int, admin, root string) (sample, error) {
	var s sample
	var err error
	if s.RSSKiB, s.AnonKiB, err = procMemory(pid); err != nil {
		return s, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = int64(len(fds))
	if s.Goroutines, err = goroutines(ctx, admin); err != nil {
		return s, err
	}
	if s.Pages, err = storedPages(ctx, admin); err != nil {
		return s, err
	}
	if s.DiskBytes, err = diskUse(root); err != nil {
		return s, err
	}
	tmp, err := os.ReadDir(filepath.Join(root, "@edge", "tmp"))
	if err != nil && !os.IsNotExist(err) {
		return s, err
	}
	s.TmpFiles = int64(len(tmp))
	return s, nil
}

// procMemory returns VmRSS and RssAnon of pid, in KiB.
func procMemory(pid int) (rss, anon int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return rss, anon, sc.Err()
}

var adminClient = &http.Client{Timeout: 5 * time.Second}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

// goroutines reads go_goroutines from edge's Prometheus metrics.
func goroutines(ctx context.Context, admin string) (int64, error) {
	b, err := get(ctx, "http://"+admin+"/metrics")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, fmt.Errorf("no go_goroutines in %s/metrics", admin)
}

// storedPages reads disk.pages from edge's /status.
func storedPages(ctx context.Context, admin string) (int64, error) {
	b, err := get(ctx, "http://"+admin+"/status")
	if err != nil {
		return 0, err
	}
	var st struct {
		Disk struct {
			Pages int64 `json:"pages"`
		} `json:"disk"`
	}
	err = json.Unmarshal(b, &st)
	return st.Disk.Pages, err
}

// diskUse sums the allocated blocks of every file under root (du). Files
// that vanish while it walks (renamed temp files, replaced pages) are
// skipped.
func diskUse(root string) (int64, error) {
	var total int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

//go:build unix

package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Command says how to start the edge process: the binary, its arguments
// and extra environment (for example EDGE_FAULT=point:kill). A test binary
// that runs edge's main when told to by an environment variable (see
// cmd/edge's TestMain) serves as well as a built binary, and needs no
// build step.
type Command struct {
	Path string
	Args []string
	Env  []string
}

// Proc is one running edge process. Stderr lines are logged to the test
// and can be waited for. Not safe for concurrent use.
type Proc struct {
	t     testing.TB
	cmd   *exec.Cmd
	lines chan string
	exit  chan struct{} // closed when the process has been reaped
	err   error         // Wait's result, valid after exit is closed
}

// Start runs c and kills it (SIGKILL) at cleanup if it is still running.
func Start(t testing.TB, c Command) *Proc {
	t.Helper()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append(os.Environ(), c.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, cmd: cmd, lines: make(chan string, 4096), exit: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log("edge: " + sc.Text())
			select {
			case p.lines <- sc.Text():
			default: // nobody is waiting for lines this late; keep draining
			}
		}
	})
	go func() {
		wg.Wait() // all output read before Wait closes the pipe
		p.err = cmd.Wait()
		close(p.lines)
		close(p.exit)
	}()
	t.Cleanup(func() { p.Kill() })
	return p
}

// WaitLine returns the submatches of the first stderr line matching re,
// failing the test if the process exits or 20 seconds pass first.
func (p *Proc) WaitLine(re *regexp.Regexp) []string {
	p.t.Helper()
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("edge exited (%v) before logging %v", p.err, re)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout.C:
			p.t.Fatalf("no log line matching %v", re)
		}
	}
}

// Kill sends SIGKILL (if the process still runs) and waits for it to be
// reaped. Idempotent.
func (p *Proc) Kill() {
	select {
	case <-p.exit:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exit
}

// Signal sends sig to the process (SIGTERM to test a graceful shutdown).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed once the process has ended and been reaped.
func (p *Proc) Exited() <-chan struct{} { return p.exit }

// Killed reports whether the process ended by SIGKILL (sent by Kill or by
// itself at a fault point). Only valid after Exited is closed.
func (p *Proc) Killed() bool {
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// WaitExit waits (at most 20 seconds) for the process to end by itself and
// returns its Wait error.
func (p *Proc) WaitExit() error {
	p.t.Helper()
	select {
	case <-p.exit:
		return p.err
	case <-time.After(20 * time.Second):
		p.t.Fatal("edge did not exit within 20s")
		return nil
	}
}

// Binary is a main package built once per test process, on first use.
// Safe for concurrent use.
type Binary struct {
	once sync.Once
	path string
	err  error
}

// Build runs `go build -o dir/name pkg` the first time it is called (pkg
// as the go command takes it, relative to the test's working directory,
// e.g. "."), and returns the binary's path. The binary is built without the
// race detector whatever the test binary was built with, so a process
// starts in milliseconds; the caller removes dir (TestMain).
func (b *Binary) Build(dir, name, pkg string) (string, error) {
	b.once.Do(func() {
		b.path = filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	})
	return b.path, b.err
}

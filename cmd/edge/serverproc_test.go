package main

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// serverProc is a server process of a test's own (nats-server,
// versitygw) on a free loopback port and a directory of the test's, which
// the test can kill and start again on the same port and directory. Its
// output goes to the test log.
type serverProc struct {
	name, bin, addr, dir string
	args                 func(addr, dir string) []string
	cmd                  *exec.Cmd
}

// startServerProc starts the binary named by the environment variable
// binEnv, or skips the test saying why (why) when it is unset; it is
// killed at the test's cleanup.
func startServerProc(t *testing.T, name, binEnv, why string, args func(addr, dir string) []string) *serverProc {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Skipf("%s is not set: %s", binEnv, why)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProc{name: name, bin: bin, addr: ln.Addr().String(), dir: t.TempDir(), args: args}
	ln.Close()
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

// start runs the process and waits (bounded) until it accepts connections.
func (p *serverProc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.bin, p.args(p.addr, p.dir)...)
	p.cmd.Stdout, p.cmd.Stderr = testLog{t}, testLog{t}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, p.name+" listening on "+p.addr, func() bool {
		c, err := net.Dial("tcp", p.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop kills the process (SIGKILL: an outage, not a shutdown).
func (p *serverProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

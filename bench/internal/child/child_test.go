package child

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartStopTail(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := Start("sh", log, []string{"CHILD_TEST=hello"}, "sh", "-c", `echo "$CHILD_TEST"; exec sleep 60`)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Tail(), "hello") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.Tail(); got != "hello" {
		t.Fatalf("Tail = %q, want the environment's value", got)
	}
	if p.Exited() {
		t.Fatal("exited early")
	}
	if clean := p.Stop(10 * time.Second); clean {
		t.Error("a process ended by SIGTERM reported a clean exit")
	}
	if !p.Exited() || p.Err() == nil {
		t.Errorf("after Stop: exited %v, err %v", p.Exited(), p.Err())
	}
}

func TestWaitHTTPEndsWhenTheProcessExits(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil || len(ports) != 2 || ports[0] == ports[1] {
		t.Fatalf("FreePorts: %v %v", ports, err)
	}
	p, err := Start("false", filepath.Join(t.TempDir(), "f.log"), nil, "false")
	if err != nil {
		t.Fatal(err)
	}
	err = WaitHTTP(context.Background(), p, "http://127.0.0.1:1/", 200, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitHTTP = %v, want the process's exit", err)
	}
}

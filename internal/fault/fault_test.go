package fault

import (
	"os"
	"os/exec"
	"testing"
)

func TestParse(t *testing.T) {
	m := parse(" a.b:kill, c@3:kill ,d:pause,e@x:kill,f")
	if len(m) != 3 || m["a.b"].at != 1 || m["c"].at != 3 || m["e@x"].at != 1 {
		t.Fatalf("parse: %v", m)
	}
	if parse("") != nil {
		t.Fatal("empty spec armed something")
	}
}

// An unarmed point does nothing.
func TestUnarmedPointIsInert(t *testing.T) {
	if armed != nil && os.Getenv("FAULT_CHILD") == "" {
		t.Skip("EDGE_FAULT set in the environment")
	}
	for range 3 {
		Point("store.put.after-temps")
	}
}

// An armed point kills the process with SIGKILL on the named hit, not
// before.
func TestArmedPointKills(t *testing.T) {
	if os.Getenv("FAULT_CHILD") != "" {
		Point("p") // hit 1: survives
		os.Stdout.WriteString("survived first\n")
		Point("p") // hit 2: killed
		os.Stdout.WriteString("survived second\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestArmedPointKills$")
	cmd.Env = append(os.Environ(), "FAULT_CHILD=1", EnvVar+"=p@2:kill")
	out, err := cmd.Output()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != -1 {
		t.Fatalf("child: %v (output %q), want death by signal", err, out)
	}
	if got := string(out); got != "survived first\n" {
		t.Fatalf("child output %q", got)
	}
}

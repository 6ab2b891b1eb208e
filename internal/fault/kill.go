package fault

import "os"

// kill ends the process at once: SIGKILL on Unix, TerminateProcess on
// Windows.
func kill() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	select {} // the signal is on its way
}

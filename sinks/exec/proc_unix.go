//go:build unix

package exec

import (
	"os"
	osexec "os/exec"
	"syscall"
)

// ownGroup starts the program in a process group of its own, so that killing
// it also kills what it started (sh -c, a wrapper script's children), which
// would otherwise keep its pipes open.
func ownGroup(cmd *osexec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killTree kills the program's process group with SIGKILL.
func killTree(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

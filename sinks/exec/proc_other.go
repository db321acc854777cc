//go:build !unix

package exec

import (
	"os"
	osexec "os/exec"
)

func ownGroup(*osexec.Cmd) {}

// killTree kills the program; processes it started may outlive it.
func killTree(p *os.Process) { _ = p.Kill() }

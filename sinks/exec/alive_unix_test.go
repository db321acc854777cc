//go:build unix

package exec_test

import (
	"errors"
	"syscall"
)

// processExists reports whether pid is a process, zombies included.
func processExists(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

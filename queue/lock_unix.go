//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package queue

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// lockFile is the owner lock of a data directory: an flock on a file that
// stays in place. The kernel releases it when its process dies, however it
// dies, so a crashed owner never leaves the directory locked. flock locks
// belong to the open file, not the process: two pipelines in one process
// exclude each other too.
type lockFile struct {
	f *os.File
}

// tryLock takes the lock at path without waiting and writes this process's
// id in it. It returns nil and no error when another holder has it.
func tryLock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(pid, 0) // only for error messages; the lock is what counts
	}
	return &lockFile{f: f}, nil
}

// unlock releases the lock; the file stays, so that a process waiting on it
// and one that comes later lock the same file.
func (l *lockFile) unlock() error {
	return l.f.Close()
}

//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// lockFile is the owner lock of a data directory where flock is missing: a
// file created exclusively, holding its owner's process id, and removed on
// unlock. A lock left by a process that crashed is taken over when the
// system says that process is gone; otherwise remove the file by hand.
type lockFile struct {
	path string
}

// tryLock takes the lock at path without waiting. It returns nil and no
// error when another holder has it.
func tryLock(path string) (*lockFile, error) {
	for range 2 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
			if err := errors.Join(werr, f.Close()); err != nil {
				_ = os.Remove(path)
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			return &lockFile{path: path}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		pid := lockHolder(path)
		if pid <= 0 || !processGone(pid) {
			return nil, nil
		}
		_ = os.Remove(path) // stale: its owner is gone
	}
	return nil, nil
}

// processGone reports whether the system knows no process pid (reliable on
// Windows, where finding a process opens it).
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	_ = p.Release()
	return false
}

// unlock releases the lock by removing its file.
func (l *lockFile) unlock() error {
	return os.Remove(l.path)
}

package queue

import (
	"path/filepath"
	"sync"
	"testing"
)

// HoldLockForTest takes dir's owner lock as a process that never answers
// would: no server, no record. release lets go (at most once).
func HoldLockForTest(t testing.TB, dir string) (release func()) {
	t.Helper()
	l, err := tryLock(filepath.Join(dir, LockFileName))
	if err != nil || l == nil {
		t.Fatalf("lock %s: %v (held: %v)", dir, err, l == nil)
	}
	var once sync.Once
	return func() { once.Do(func() { _ = l.unlock() }) }
}

// NewForTest returns a queue that is not connected, with the given replicas.
func NewForTest(replicas int) *Queue {
	return &Queue{cfg: Config{Pipeline: "x", Prefix: "bridge", Replicas: replicas}, replicas: replicas}
}

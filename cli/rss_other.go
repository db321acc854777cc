//go:build !linux

package cli

// peakRSSBytes is not measured on this system.
func peakRSSBytes() int64 { return 0 }

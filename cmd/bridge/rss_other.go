//go:build !linux

package main

// peakRSSBytes is not measured on this system.
func peakRSSBytes() int64 { return 0 }

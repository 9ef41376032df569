//go:build !unix

package app

func peakRSSMiB() float64 { return -1 }

func cpuSeconds() float64 { return 0 }

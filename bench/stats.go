package main

import (
	"math"
	"sort"
	"time"
)

// Stats summarises the samples of one contender.
type Stats struct {
	N                int
	Median, P10, P90 time.Duration
	Min, Max         time.Duration
}

// Summarize computes the statistics of samples (which it does not modify).
// Percentiles interpolate linearly between the closest ranks.
func Summarize(samples []time.Duration) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return Stats{
		N:      len(s),
		Median: percentile(s, 50),
		P10:    percentile(s, 10),
		P90:    percentile(s, 90),
		Min:    s[0],
		Max:    s[len(s)-1],
	}
}

// percentile returns the p-th percentile (0..100) of the sorted samples s.
func percentile(s []time.Duration, p float64) time.Duration {
	if len(s) == 1 {
		return s[0]
	}
	rank := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return s[lo] + time.Duration(math.Round(frac*float64(s[hi]-s[lo])))
}

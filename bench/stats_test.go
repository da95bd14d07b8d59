package main

import (
	"testing"
	"time"
)

func ms(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x * float64(time.Millisecond))
	}
	return out
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name             string
		in               []time.Duration
		median, p10, p90 time.Duration
	}{
		{"one", ms(7), ms(7)[0], ms(7)[0], ms(7)[0]},
		{"odd unsorted", ms(5, 1, 3), ms(3)[0], ms(1.4)[0], ms(4.6)[0]},
		{"even", ms(1, 2, 3, 4), ms(2.5)[0], ms(1.3)[0], ms(3.7)[0]},
		{"eleven", ms(10, 0, 9, 1, 8, 2, 7, 3, 6, 4, 5), ms(5)[0], ms(1)[0], ms(9)[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := append([]time.Duration(nil), tc.in...)
			s := Summarize(tc.in)
			if s.Median != tc.median || s.P10 != tc.p10 || s.P90 != tc.p90 {
				t.Errorf("Summarize(%v) = median %v p10 %v p90 %v, want %v %v %v",
					tc.in, s.Median, s.P10, s.P90, tc.median, tc.p10, tc.p90)
			}
			if s.N != len(tc.in) {
				t.Errorf("N = %d, want %d", s.N, len(tc.in))
			}
			for i := range orig {
				if orig[i] != tc.in[i] {
					t.Fatalf("Summarize modified its input")
				}
			}
		})
	}
	if s := Summarize(nil); s != (Stats{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", s)
	}
}

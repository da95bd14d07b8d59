package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"
)

// TestMeasureInterleaves checks the order of the runs, that a failing
// contender is dropped while the others go on, and that unavailable or
// failed-at-setup contenders never run.
func TestMeasureInterleaves(t *testing.T) {
	var order []string
	runner := func(name string, failAt int) func(int) (time.Duration, error) {
		n := 0
		return func(seq int) (time.Duration, error) {
			order = append(order, fmt.Sprintf("%s%d", name, seq))
			n++
			if n == failAt {
				return 0, errors.New("boom")
			}
			return time.Duration(n) * time.Millisecond, nil
		}
	}
	cs := []Contender{
		{Name: "a", Peer: true, Run: runner("a", 0)},
		{Name: "b", Peer: true, Run: runner("b", 0)},
		{Name: "c", Run: runner("c", 3)},
		{Name: "d", Unavailable: "missing", Run: runner("d", 0)},
		{Name: "e", SetupErr: errors.New("no image"), Run: runner("e", 0)},
	}
	res := Measure(cs, 3, 1, io.Discard)
	want := []string{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("run order %v, want %v", order, want)
	}
	if !res[0].OK(3) || !res[1].OK(3) {
		t.Errorf("peers not complete: %+v %+v", res[0], res[1])
	}
	if len(res[0].Samples) != 3 || res[0].Samples[0] != 2*time.Millisecond {
		t.Errorf("warm-up run counted or samples wrong: %v", res[0].Samples)
	}
	if res[2].Err == nil || res[2].ErrAt != "run 2" || len(res[2].Samples) != 1 {
		t.Errorf("c: err %v at %q with %d samples, want failure at run 2 with 1 sample", res[2].Err, res[2].ErrAt, len(res[2].Samples))
	}
	if res[3].OK(3) || res[3].Err != nil {
		t.Errorf("unavailable contender reported as %+v", res[3])
	}
	if res[4].ErrAt != "setup" {
		t.Errorf("setup failure reported at %q", res[4].ErrAt)
	}
}

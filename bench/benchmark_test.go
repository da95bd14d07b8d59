package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"
)

// fakeRunner records its calls in order and fails the calls listed in fail
// (1-based call numbers).
func fakeRunner(order *[]string, name string, fail ...int) func(int) (time.Duration, error) {
	calls := 0
	return func(seq int) (time.Duration, error) {
		calls++
		*order = append(*order, fmt.Sprintf("%s%d", name, seq))
		for _, f := range fail {
			if calls == f {
				return 0, errors.New("boom")
			}
		}
		return time.Duration(calls) * time.Millisecond, nil
	}
}

// TestMeasureInterleaves checks the order of the runs, that a failed run is
// made up for later, that a contender failing too often is dropped while the
// others go on, and that unavailable or failed-at-setup contenders never run.
func TestMeasureInterleaves(t *testing.T) {
	var order []string
	cs := []Contender{
		{Name: "a", Peer: true, Run: fakeRunner(&order, "a")},
		{Name: "b", Peer: true, Run: fakeRunner(&order, "b", 3)},
		{Name: "c", Run: fakeRunner(&order, "c", 2, 3)},
		{Name: "d", Unavailable: "missing", Run: fakeRunner(&order, "d")},
		{Name: "e", SetupErr: errors.New("no image"), Run: fakeRunner(&order, "e")},
	}
	res := Measure(context.Background(), cs, 3, 1, 2, io.Discard)
	// Round k starts at contender k mod 5 (d and e never run).
	want := []string{
		"a0", "b0", "c0", // warm-up
		"b1", "c1", "a1", // c fails (1)
		"c2", "a2", "b2", // c fails (2): c dropped; b fails (1)
		"a3", "b3",
		"b4", // b makes up for its failed run
	}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("run order %v, want %v", order, want)
	}
	a, b, c := res[0], res[1], res[2]
	if !a.OK(3) || a.Failures != 0 || !reflect.DeepEqual(a.Samples, ms(2, 3, 4)) {
		t.Errorf("a: %+v, want 3 samples 2,3,4 ms (warm-up not counted)", a)
	}
	if !b.OK(3) || b.Failures != 1 || b.ErrAt != "run 2" || !reflect.DeepEqual(b.Samples, ms(2, 4, 5)) {
		t.Errorf("b: ok %v, failures %d at %q, samples %v; want complete with 1 failure at run 2", b.OK(3), b.Failures, b.ErrAt, b.Samples)
	}
	if c.OK(3) || !c.Dropped || c.Failures != 2 || c.ErrAt != "run 1" || len(c.Samples) != 0 {
		t.Errorf("c: %+v, want dropped after 2 failures, first at run 1", c)
	}
	if res[3].OK(3) || res[3].Dropped || res[3].Err != nil {
		t.Errorf("unavailable contender reported as %+v", res[3])
	}
	if !res[4].Dropped || res[4].ErrAt != "setup" {
		t.Errorf("setup failure reported as %+v", res[4])
	}
}

func TestMeasureStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	cs := []Contender{{Name: "a", Run: func(int) (time.Duration, error) {
		runs++
		if runs == 2 {
			cancel()
		}
		return time.Millisecond, nil
	}}}
	res := Measure(ctx, cs, 10, 0, 1, io.Discard)
	if runs != 2 || res[0].OK(10) {
		t.Errorf("ran %d times after cancel (ok %v), want 2", runs, res[0].OK(10))
	}
}

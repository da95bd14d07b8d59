package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// Benchmark is one named measurement, e.g. runtime-lifecycle.
type Benchmark struct {
	Name  string // section key and -run target, e.g. "runtime-lifecycle"
	Order int    // position of the section in the report
	Title string // one line: what one run does
	About string // markdown paragraph: what is measured and how
	// Unit is what a run measures: "" for time; UnitKB for memory, a
	// sample's value (a time.Duration) then being kilobytes.
	Unit string
	// Runs, when set, is the number of measured runs whatever -n says
	// (a memory figure is steady; its runs are long).
	Runs int
	// Setup prepares what the runs share (bundles, images) and returns the
	// contenders. cleanup, when not nil, is called even if err is not nil.
	Setup func(env Env) (contenders []Contender, cleanup func(), err error)
	// Rate, when set, turns a median time into a rate for the report
	// (throughput benchmarks).
	Rate func(median time.Duration) string
}

// UnitKB marks a benchmark whose samples are kilobytes.
const UnitKB = "kB"

// Env is what the benchmarks get from the command line.
type Env struct {
	Ctx     context.Context // done when the user interrupts: stop measuring
	Berth   string          // absolute path of the berth binary ("" or missing: not measured)
	Timeout time.Duration   // time limit of one run
	Log     io.Writer       // progress and errors
	TmpDir  string          // where bundles and state go ("": the default temp dir)
}

// Contender is one program being measured in a benchmark.
type Contender struct {
	Name    string // e.g. "runc", "docker", "berth"
	Peer    bool   // a program berth is compared against (berth itself: false)
	Version string // shown with the machine facts
	// Unavailable, when not empty, says why this contender is not measured
	// (e.g. the binary is missing); Run is then never called.
	Unavailable string
	// SetupErr, when not nil, says why preparing this contender failed
	// (e.g. berth could not import the image): it is reported as a failure.
	SetupErr error
	// Run does one run and returns its duration. seq is unique across all
	// runs of this contender, warm-up included, for fresh container names.
	Run func(seq int) (time.Duration, error)
	// Notes, when set, returns lines the report adds about this contender
	// after measuring (e.g. peak memory).
	Notes func() []string
}

// Result holds the measurements of one contender.
type Result struct {
	Contender
	Samples  []time.Duration
	Failures int    // failed runs, not counted in Samples
	Err      error  // the first failure
	ErrAt    string // where it happened: "setup", "warm-up run 1", "run 3"
	Dropped  bool   // measuring stopped: setup failed or too many failed runs
}

// OK reports whether the contender completed n measured runs.
func (r *Result) OK(n int) bool {
	return r.Unavailable == "" && !r.Dropped && len(r.Samples) == n
}

// Measure runs the contenders interleaved: each round visits every
// contender once, each round starting one contender further on (A B C,
// B C A, C A B, …) so that no contender always runs right after the same
// other one (a runtime's leftovers, such as a cgroup write's RCU grace
// period, then land on all alike), until each has done its warm-up runs and n
// measured runs. A failed run is not counted and is made up for in a later
// round (engines have flaky runs too); a contender whose runs fail
// maxFailures times is dropped, and the others go on. Measuring stops early
// when ctx is done.
func Measure(ctx context.Context, contenders []Contender, n, warmup, maxFailures int, log io.Writer) []*Result {
	results := make([]*Result, len(contenders))
	warm := make([]int, len(contenders))
	for i, c := range contenders {
		results[i] = &Result{Contender: c}
		switch {
		case c.Unavailable != "":
			fmt.Fprintf(log, "   %s: not measured: %s\n", c.Name, c.Unavailable)
		case c.SetupErr != nil:
			r := results[i]
			r.Err, r.ErrAt, r.Dropped = c.SetupErr, "setup", true
			fmt.Fprintf(log, "   %s: FAILED at setup: %v\n", c.Name, c.SetupErr)
		}
	}
	for seq := 0; ctx.Err() == nil; seq++ {
		ran := false
		for j := range results {
			i := (seq + j) % len(results)
			r := results[i]
			if r.Unavailable != "" || r.Dropped || ctx.Err() != nil || (warm[i] >= warmup && len(r.Samples) >= n) {
				continue
			}
			ran = true
			at := fmt.Sprintf("run %d", len(r.Samples)+1)
			if warm[i] < warmup {
				at = fmt.Sprintf("warm-up run %d", warm[i]+1)
			}
			d, err := r.Run(seq)
			if err != nil {
				r.Failures++
				if r.Err == nil {
					r.Err, r.ErrAt = err, at
				}
				if r.Failures >= maxFailures {
					r.Dropped = true
				}
				fmt.Fprintf(log, "   %s: failed at %s (failure %d of at most %d): %v\n", r.Name, at, r.Failures, maxFailures, err)
				continue
			}
			if warm[i] < warmup {
				warm[i]++
				continue
			}
			r.Samples = append(r.Samples, d)
			if k := len(r.Samples); k%5 == 0 || k == n {
				fmt.Fprintf(log, "   %s: %d/%d runs\n", r.Name, k, n)
			}
		}
		if !ran {
			break
		}
	}
	return results
}

func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", p, err)
	}
	return abs, nil
}

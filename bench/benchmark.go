package main

import (
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
	// Setup prepares what the runs share (bundles, images) and returns the
	// contenders. cleanup, when not nil, is called even if err is not nil.
	Setup func(env Env) (contenders []Contender, cleanup func(), err error)
}

// Env is what the benchmarks get from the command line.
type Env struct {
	Berth   string        // absolute path of the berth binary ("" or missing: not measured)
	Timeout time.Duration // time limit of one run
	Log     io.Writer     // progress and errors
	TmpDir  string        // where bundles and state go ("": the default temp dir)
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
}

// Result holds the measurements of one contender.
type Result struct {
	Contender
	Samples []time.Duration
	Err     error  // why measuring stopped early, if it did
	ErrAt   string // where it failed: "setup", "warm-up run", "run 3"
}

// OK reports whether the contender ran every measured run.
func (r *Result) OK(n int) bool {
	return r.Unavailable == "" && r.Err == nil && len(r.Samples) == n
}

// Measure runs the contenders interleaved: warm-up runs first, then n
// measured runs, each round visiting every contender once in order. A
// contender that fails is dropped from later rounds; the others go on.
func Measure(contenders []Contender, n, warmup int, log io.Writer) []*Result {
	results := make([]*Result, len(contenders))
	for i, c := range contenders {
		results[i] = &Result{Contender: c}
		switch {
		case c.Unavailable != "":
			fmt.Fprintf(log, "   %s: not measured: %s\n", c.Name, c.Unavailable)
		case c.SetupErr != nil:
			results[i].Err, results[i].ErrAt = c.SetupErr, "setup"
			fmt.Fprintf(log, "   %s: FAILED at setup: %v\n", c.Name, c.SetupErr)
		}
	}
	seq := 0
	for round := -warmup; round < n; round++ {
		for _, r := range results {
			if r.Unavailable != "" || r.Err != nil {
				continue
			}
			d, err := r.Run(seq)
			if err != nil {
				r.Err, r.ErrAt = err, runName(round)
				fmt.Fprintf(log, "   %s: FAILED at %s: %v\n", r.Name, r.ErrAt, err)
				continue
			}
			if round >= 0 {
				r.Samples = append(r.Samples, d)
			}
		}
		seq++
		if round >= 0 && (round+1)%5 == 0 {
			fmt.Fprintf(log, "   %d/%d runs\n", round+1, n)
		}
	}
	return results
}

func runName(round int) string {
	if round < 0 {
		return "warm-up run"
	}
	return fmt.Sprintf("run %d", round+1)
}

func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", p, err)
	}
	return abs, nil
}

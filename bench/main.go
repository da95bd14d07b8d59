// Command bench runs berth and its peers side by side and writes the results
// to docs/benchmarks.md.
//
//	go run ./bench -berth bin/berth -run 'runtime-lifecycle' -n 20 -out docs/benchmarks.md
//
// Every benchmark measures several contenders (berth and its peers, e.g. runc
// and crun) interleaved: peer A run 1, peer B run 1, berth run 1, then peer B,
// berth, peer A (each round starts one contender further on),
// and so on, so that drift in the machine's load hits all of them alike. It
// reports the median, p10 and p90 of each and the ratio of each median to the
// fastest peer's, and rewrites only its own section of the output file.
//
// A contender that fails (berth before it works, a peer that is not
// installed) is reported with its error; the others are still measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// minReportedRuns is the fewest measured runs a written report may rest on.
const minReportedRuns = 20

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	berth := fs.String("berth", "bin/berth", "path of the berth binary")
	pattern := fs.String("run", ".", "regular expression selecting the benchmarks to run")
	n := fs.Int("n", 20, "measured runs per contender (at least 20 when writing -out; fewer with -out -)")
	warmup := fs.Int("warmup", 1, "unmeasured runs per contender before measuring")
	out := fs.String("out", "docs/benchmarks.md", "markdown file whose sections are rewritten (\"-\": print only)")
	maxFailures := fs.Int("max-failures", 3, "failed runs after which a contender is dropped (failed runs are not counted)")
	timeout := fs.Duration("timeout", 2*time.Minute, "time limit of one run")
	list := fs.Bool("list", false, "list the benchmarks and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, b := range benchmarks() {
			fmt.Printf("%-20s %s\n", b.Name, b.Title)
		}
		return nil
	}
	if *maxFailures < 1 {
		return fmt.Errorf("-max-failures must be at least 1, got %d", *maxFailures)
	}
	toFile := *out != "-" && *out != ""
	if *n < 1 || (toFile && *n < minReportedRuns) {
		return fmt.Errorf("-n must be at least %d to write %s (at least 1 with -out -), got %d", minReportedRuns, *out, *n)
	}
	re, err := regexp.Compile(*pattern)
	if err != nil {
		return fmt.Errorf("bad -run pattern: %w", err)
	}
	var selected []Benchmark
	for _, b := range benchmarks() {
		if re.MatchString(b.Name) {
			selected = append(selected, b)
		}
	}
	if len(selected) == 0 {
		return fmt.Errorf("no benchmark matches -run %q (see -list)", *pattern)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root: the benchmarks start containers")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := Env{
		Ctx:     ctx,
		Berth:   resolveBerth(*berth),
		Timeout: *timeout,
		Log:     os.Stderr,
	}
	command := berthEnv(os.Environ()) + commandLine(os.Args)
	var failed []string
	for _, b := range selected {
		fmt.Fprintf(os.Stderr, "== %s: %s\n", b.Name, b.Title)
		runs := *n
		if b.Runs > 0 {
			runs = b.Runs
		}
		rep, err := runBenchmark(b, env, runs, *warmup, *maxFailures)
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted during %s: nothing written for it", b.Name)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", b.Name, err))
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", b.Name, err)
			continue
		}
		rep.Command = command
		section := rep.Markdown()
		fmt.Println(section)
		if toFile {
			if err := WriteSection(*out, b.Name, section); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "== %s: wrote its section of %s\n", b.Name, *out)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("benchmarks that could not run: %s", strings.Join(failed, "; "))
	}
	return nil
}

// runBenchmark sets b up, measures its contenders and tears it down.
func runBenchmark(b Benchmark, env Env, n, warmup, maxFailures int) (*Report, error) {
	machine := CollectMachine()
	contenders, cleanup, err := b.Setup(env)
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	results := Measure(env.Ctx, contenders, n, warmup, maxFailures, env.Log)
	return &Report{
		Benchmark:  b,
		Machine:    machine,
		Runs:       n,
		Warmup:     warmup,
		Results:    results,
		LoadAvgEnd: loadAvg(),
	}, nil
}

// resolveBerth returns the absolute path of the berth binary ("" stays "");
// whether it exists is checked by each benchmark (berthMissing).
func resolveBerth(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := absPath(p); err == nil {
		return abs
	}
	return p
}

// commandLine renders how this program was invoked, as a shell command. A
// binary built by `go run` lives in a go-build temp dir: show `go run ./bench`.
func commandLine(argv []string) string {
	prog := argv[0]
	if strings.Contains(prog, "go-build") || strings.HasSuffix(prog, "/exe/bench") {
		prog = "go run ./bench"
	}
	parts := []string{prog}
	for _, a := range argv[1:] {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// berthEnv renders the BERTH_* variables of env (which daemon the berth
// CLI talks to, with which names) as a prefix of the command line.
func berthEnv(env []string) string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "BERTH_") {
			k, v, _ := strings.Cut(kv, "=")
			out = append(out, k+"="+shellQuote(v))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, " ") + " "
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// benchmarks lists every benchmark in the order of their sections.
func benchmarks() []Benchmark {
	bs := []Benchmark{
		runtimeLifecycle(),
		engineRun(),
		engineParallel(),
		engineRunBridge(),
		networkThroughput(),
		engineIdleMemory(),
		imageLoad(),
		buildCold(),
		buildRebuild(),
		buildOneFile(),
		imagePull(),
		registryThroughput(),
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].Order < bs[j].Order })
	return bs
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is the outcome of one benchmark, rendered as its section of
// docs/benchmarks.md.
type Report struct {
	Benchmark Benchmark
	Machine   Machine
	// LoadAvgEnd is the load average when measuring ended: with the one at
	// the start it shows whether other work shared the machine.
	LoadAvgEnd string
	Command    string
	Runs       int
	Warmup     int
	Results    []*Result
}

// fastestPeer returns the smallest median among the peers that completed
// every run, or 0 if none did.
func (r *Report) fastestPeer() (time.Duration, string) {
	var best time.Duration
	var name string
	for _, res := range r.Results {
		if !res.Peer || !res.OK(r.Runs) {
			continue
		}
		m := Summarize(res.Samples).Median
		if best == 0 || m < best {
			best, name = m, res.Name
		}
	}
	return best, name
}

// Markdown renders the section, markers excluded.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\n", r.Benchmark.Name)
	fmt.Fprintf(&b, "%s\n\n", strings.TrimSpace(r.Benchmark.About))
	fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- Date: %s\n", r.Machine.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Machine: Linux %s, %s, nproc %d, load average at start %s, at end %s\n",
		r.Machine.Kernel, r.Machine.CPU, r.Machine.NProc, r.Machine.LoadAvg, r.LoadAvgEnd)
	var versions []string
	for _, res := range r.Results {
		if res.Version != "" {
			versions = append(versions, fmt.Sprintf("%s %s", res.Name, res.Version))
		}
	}
	if len(versions) > 0 {
		fmt.Fprintf(&b, "- Versions: %s\n", strings.Join(versions, "; "))
	}
	fmt.Fprintf(&b, "- Runs: %d measured per contender after %d warm-up, interleaved\n\n", r.Runs, r.Warmup)

	best, bestName := r.fastestPeer()
	ratioHead := "vs fastest peer"
	if bestName != "" {
		ratioHead = fmt.Sprintf("vs fastest peer (%s)", bestName)
	}
	fmt.Fprintf(&b, "| contender | median | p10 | p90 | %s | runs |\n", ratioHead)
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	var notes []string
	for _, res := range r.Results {
		switch {
		case res.Unavailable != "":
			fmt.Fprintf(&b, "| %s | not measured | | | | 0 |\n", res.Name)
			notes = append(notes, fmt.Sprintf("%s not measured: %s", res.Name, res.Unavailable))
		case !res.OK(r.Runs):
			fmt.Fprintf(&b, "| %s | FAILED | | | | %d |\n", res.Name, len(res.Samples))
			if res.ErrAt == "setup" {
				notes = append(notes, fmt.Sprintf("%s failed at setup: %s", res.Name, oneLine(res.Err.Error())))
			} else if res.Err != nil {
				notes = append(notes, fmt.Sprintf("%s failed (%s), first at %s: %s", res.Name, failureCount(res), res.ErrAt, oneLine(res.Err.Error())))
			} else {
				notes = append(notes, fmt.Sprintf("%s was interrupted", res.Name))
			}
		default:
			if res.Failures > 0 {
				notes = append(notes, fmt.Sprintf("%s: %s not counted and run again, first at %s: %s", res.Name, failureCount(res), res.ErrAt, oneLine(res.Err.Error())))
			}
			s := Summarize(res.Samples)
			ratio := ""
			if best > 0 {
				ratio = fmt.Sprintf("%.2f×", float64(s.Median)/float64(best))
			}
			format := formatDuration
			if r.Benchmark.Unit == UnitKB {
				format = formatKB
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n",
				res.Name, format(s.Median), format(s.P10), format(s.P90), ratio, s.N)
			if r.Benchmark.Rate != nil {
				notes = append(notes, fmt.Sprintf("%s: %s at the median", res.Name, r.Benchmark.Rate(s.Median)))
			}
		}
	}
	for _, res := range r.Results {
		if res.Notes != nil && res.Unavailable == "" {
			for _, n := range res.Notes() {
				notes = append(notes, fmt.Sprintf("%s: %s", res.Name, n))
			}
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func failureCount(r *Result) string {
	if r.Failures == 1 {
		return "1 failed run"
	}
	return fmt.Sprintf("%d failed runs", r.Failures)
}

// oneLine squeezes an error message onto one markdown-safe line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

func formatDuration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.1f s", ms/1000)
	}
}

// formatKB renders a memory sample (kilobytes) in MB.
func formatKB(v time.Duration) string {
	return fmt.Sprintf("%.2f MB", float64(v)/1000)
}

// fileHeader starts a new benchmarks file.
var fileHeader = strings.Join([]string{
	"# Benchmarks",
	"",
	"Written by `go run ./bench` (`make bench` runs them all); the peers come from",
	"`hack/install-peers.sh`. Each section below is rewritten only by a run of its",
	"own benchmark (`go run ./bench -berth bin/berth -run '^NAME$'`), between its",
	"HTML comment markers; text outside the markers is kept. Contenders run",
	"interleaved (A1 B1 C1 A2 B2 C2 …), so load from other work hits them alike:",
	"compare the ratios within a section (median over the fastest peer's median;",
	"below 1.00× is faster than every peer) rather than absolute times across",
	"sections, and mind the load averages each section records. A failed run is",
	"not counted and is run again; a contender is dropped after -max-failures (3)",
	"failed runs.",
}, "\n") + "\n"

func beginMarker(name string) string { return "<!-- bench:" + name + " begin -->" }
func endMarker(name string) string   { return "<!-- bench:" + name + " end -->" }

// ReplaceSection returns doc with the section of name replaced by body, or
// with the section appended if doc has none. An empty doc gets the file
// header first.
func ReplaceSection(doc, name, body string) (string, error) {
	begin, end := beginMarker(name), endMarker(name)
	block := begin + "\n" + strings.TrimRight(body, "\n") + "\n" + end + "\n"
	i := strings.Index(doc, begin)
	if i < 0 {
		if strings.Contains(doc, end) {
			return "", fmt.Errorf("section %s has an end marker but no begin marker", name)
		}
		if strings.TrimSpace(doc) == "" {
			doc = fileHeader
		}
		return strings.TrimRight(doc, "\n") + "\n\n" + block, nil
	}
	j := strings.Index(doc[i:], end)
	if j < 0 {
		return "", fmt.Errorf("section %s has a begin marker but no end marker", name)
	}
	j += i + len(end)
	if j < len(doc) && doc[j] == '\n' {
		j++
	}
	if strings.Contains(doc[j:], begin) {
		return "", fmt.Errorf("section %s appears twice", name)
	}
	return doc[:i] + block + doc[j:], nil
}

// WriteSection rewrites the section of name in the markdown file at path,
// creating the file if needed. It replaces the file atomically.
func WriteSection(path, name, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	doc, err := ReplaceSection(string(old), name, body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if bytes.Equal(old, []byte(doc)) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create dir of %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

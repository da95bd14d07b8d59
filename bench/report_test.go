package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReplaceSection(t *testing.T) {
	doc, err := ReplaceSection("", "a", "## a\nfirst\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc, "# Benchmarks") {
		t.Errorf("new document lacks the header:\n%s", doc)
	}
	doc, err = ReplaceSection(doc, "b", "## b\nsecond")
	if err != nil {
		t.Fatal(err)
	}
	doc = strings.Replace(doc, "<!-- bench:b begin -->", "Hand-written notes stay.\n\n<!-- bench:b begin -->", 1)
	doc, err = ReplaceSection(doc, "a", "## a\nreplaced\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replaced", "second", "Hand-written notes stay."} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "first") {
		t.Errorf("old body of section a kept:\n%s", doc)
	}
	if strings.Index(doc, "bench:a begin") > strings.Index(doc, "bench:b begin") {
		t.Errorf("section a moved after b:\n%s", doc)
	}
	again, err := ReplaceSection(doc, "a", "## a\nreplaced\n")
	if err != nil || again != doc {
		t.Errorf("rewriting a section with the same body changed the document (err %v)", err)
	}
	if _, err := ReplaceSection("<!-- bench:x begin -->\nno end\n", "x", "y"); err == nil {
		t.Error("no error for a section without end marker")
	}
	if _, err := ReplaceSection("<!-- bench:x end -->\n", "x", "y"); err == nil {
		t.Error("no error for a section without begin marker")
	}
}

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docs", "benchmarks.md")
	if err := WriteSection(path, "one", "## one\nbody 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(path, "two", "## two\nbody 2\n"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSection(path, "one", "## one\nbody 1b\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if !strings.Contains(got, "body 1b") || strings.Contains(got, "body 1\n") || !strings.Contains(got, "body 2") {
		t.Errorf("unexpected document:\n%s", got)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temp file left behind: %v", err)
	}
}

func TestMarkdown(t *testing.T) {
	rep := &Report{
		Benchmark:  Benchmark{Name: "demo", About: "What it does."},
		Machine:    Machine{Kernel: "6.18", CPU: "Test CPU", NProc: 2, LoadAvg: "0.1 0.2 0.3", Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)},
		Command:    "go run ./bench -run demo",
		LoadAvgEnd: "1.0 0.5 0.4",
		Runs:       3,
		Results: []*Result{
			{Contender: Contender{Name: "slow", Peer: true, Version: "1.0"}, Samples: ms(40, 42, 44)},
			{Contender: Contender{Name: "fast", Peer: true, Version: "2.0"}, Samples: ms(10, 11, 12)},
			{Contender: Contender{Name: "berth"}, Samples: ms(5, 6, 7)},
			{Contender: Contender{Name: "broken"}, Err: errors.New("exit status 1:\nno | such"), ErrAt: "run 2", Failures: 3, Dropped: true},
			{Contender: Contender{Name: "flaky", Peer: true}, Samples: ms(50, 60, 70), Err: errors.New("no exit code"), ErrAt: "run 2", Failures: 1},
			{Contender: Contender{Name: "absent", Peer: true, Unavailable: "not installed"}},
			{Contender: Contender{Name: "noimage"}, Err: errors.New("no import"), ErrAt: "setup", Dropped: true},
		},
	}
	md := rep.Markdown()
	for _, want := range []string{
		"## demo", "What it does.", "`go run ./bench -run demo`", "2026-01-02 03:04 UTC",
		"Test CPU, nproc 2, load average at start 0.1 0.2 0.3, at end 1.0 0.5 0.4", "slow 1.0; fast 2.0",
		"vs fastest peer (fast)",
		"| slow | 42.0 ms | 40.4 ms | 43.6 ms | 3.82× | 3 |",
		"| fast | 11.0 ms |", "| 1.00× | 3 |",
		"| berth | 6.0 ms | 5.2 ms | 6.8 ms | 0.55× | 3 |",
		"| broken | FAILED |", "broken failed (3 failed runs), first at run 2: exit status 1: no \\| such",
		"| flaky | 60.0 ms |", "flaky: 1 failed run not counted and run again, first at run 2: no exit code",
		"| absent | not measured |", "absent not measured: not installed", "noimage failed at setup: no import",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"/tmp/go-build123/b001/exe/bench", "-run", "a|b", "-n", "20", "-berth", "bin/berth"})
	want := "go run ./bench -run 'a|b' -n 20 -berth bin/berth"
	if got != want {
		t.Errorf("commandLine = %q, want %q", got, want)
	}
}

func TestBerthEnv(t *testing.T) {
	got := berthEnv([]string{"PATH=/bin", "BERTH_HOST=unix:///run/x.sock", "BERTH_NFT_TABLE=t b"})
	if got != "BERTH_HOST=unix:///run/x.sock BERTH_NFT_TABLE='t b' " {
		t.Fatalf("got %q", got)
	}
	if berthEnv([]string{"HOME=/root"}) != "" {
		t.Fatal("no BERTH_ variables: want no prefix")
	}
}

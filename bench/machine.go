package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine holds the facts about the host printed with every result.
type Machine struct {
	Kernel  string
	CPU     string
	NProc   int
	LoadAvg string
	Date    time.Time
}

// CollectMachine reads the machine facts from /proc.
func CollectMachine() Machine {
	m := Machine{
		Kernel:  readTrim("/proc/sys/kernel/osrelease"),
		CPU:     cpuModel(),
		NProc:   runtime.NumCPU(),
		LoadAvg: loadAvg(),
		Date:    time.Now(),
	}
	if m.Kernel == "" {
		m.Kernel = "unknown"
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown CPU"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	return strings.Join(firstN(strings.Fields(readTrim("/proc/loadavg")), 3), " ")
}

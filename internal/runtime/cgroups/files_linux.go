package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/runtime/kfile"
)

// writeFile writes value to the interface file dir/name in one write(2),
// which is what cgroupfs expects. The file must exist: cgroupfs files
// cannot be created, and a missing file means the controller is absent.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	if err := kfile.Write(p, []byte(value)); err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readFile returns the content of dir/name without its trailing newline.
func readFile(dir, name string) (string, error) {
	data, err := kfile.Read(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("read cgroup file: %w", err)
	}
	return strings.TrimRight(string(data), "\n"), nil
}

// parseUint parses a cgroup counter; "max" is math.MaxUint64 and a
// negative value (v1 "-1") is clamped to 0, as runc does.
func parseUint(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("parse cgroup value %q: %w", s, err)
	}
	return v, nil
}

// readUint reads a single-value file such as memory.current.
func readUint(dir, name string) (uint64, error) {
	s, err := readFile(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := parseUint(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return v, nil
}

// readUintIfExists is readUint that returns 0 for a missing file.
func readUintIfExists(dir, name string) (uint64, error) {
	v, err := readUint(dir, name)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	return v, err
}

// readKeyed parses a flat keyed file ("key value" per line, e.g.
// memory.stat, cpu.stat, memory.events).
func readKeyed(dir, name string) (map[string]uint64, error) {
	data, err := kfile.Read(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("read cgroup file: %w", err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		v, err := parseUint(fields[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		out[fields[0]] = v
	}
	return out, nil
}

func fileExists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// readProcs reads the pids in dir/cgroup.procs.
func readProcs(dir string) ([]int, error) {
	data, err := kfile.Read(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup.procs: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s/cgroup.procs: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// isCgroupFS reports whether dir is on a cgroup or cgroup2 filesystem
// (false for the fake roots of tests).
func isCgroupFS(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
}

// removeCgroup removes dir and every cgroup below it, deepest first.
// rmdir of a cgroup fails with EBUSY while the kernel still holds dying
// tasks, so that is retried for a short while. A missing dir is fine.
func removeCgroup(dir string) error {
	// Fast path: an empty cgroup (the usual case) goes with one rmdir.
	if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !isCgroupFS(dir) {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		return nil
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	// Longer paths are deeper: remove children before their parents.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := rmdirRetry(d); err != nil {
			return err
		}
	}
	return nil
}

func rmdirRetry(dir string) error {
	delay := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || attempt == 6 {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay *= 2
	}
}

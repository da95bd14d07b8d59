package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func (m *manager) Set(r *specs.LinuxResources) error {
	if err := m.create(); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	var err error
	if m.mode == modeUnified {
		err = setV2(m.unifiedDir(), r)
	} else {
		err = m.setV1(r)
	}
	if err != nil {
		return fmt.Errorf("set cgroup resources: %w", err)
	}
	return nil
}

// setHugetlb writes huge page limits through whichever hierarchy has the
// hugetlb controller: the v1 one, or the unified one (v2 and hybrid).
func (m *manager) setHugetlb(limits []specs.LinuxHugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	if dir := m.subsystemDir("hugetlb"); dir != "" {
		return writeHugetlb(dir, limits, "limit_in_bytes")
	}
	if dir := m.unifiedDir(); dir != "" {
		if s, err := readFile(dir, "cgroup.controllers"); err == nil && containsString(strings.Fields(s), "hugetlb") {
			return writeHugetlb(dir, limits, "max")
		}
	}
	return errors.New("hugepage limits: no hierarchy has the hugetlb controller")
}

// writeHugetlb writes hugetlb.<size>.<suffix> (and the reservation limit
// hugetlb.<size>.rsvd.<suffix> where the kernel has it) for each limit.
func writeHugetlb(dir string, limits []specs.LinuxHugepageLimit, suffix string) error {
	for _, l := range limits {
		v := strconv.FormatUint(l.Limit, 10)
		file := "hugetlb." + l.Pagesize + "." + suffix
		if !fileExists(dir, file) {
			return fmt.Errorf("hugepage limit for page size %q: %s does not exist (unsupported page size?)", l.Pagesize, file)
		}
		if rsvd := "hugetlb." + l.Pagesize + ".rsvd." + suffix; fileExists(dir, rsvd) {
			if err := writeFile(dir, rsvd, v); err != nil {
				return err
			}
		}
		if err := writeFile(dir, file, v); err != nil {
			return err
		}
	}
	return nil
}

// writeRdma writes rdma.max (same format in v1 and v2).
func writeRdma(dir string, rdma map[string]specs.LinuxRdma) error {
	for dev, l := range rdma {
		v := dev
		if l.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if v == dev {
			continue
		}
		if err := writeFile(dir, "rdma.max", v); err != nil {
			return err
		}
	}
	return nil
}

// requireFile returns a clear error when a resource the user asked for
// has no interface file in dir.
func requireFile(dir, file, what string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		return fmt.Errorf("%s requested but %s/%s is not available: %w", what, dir, file, err)
	}
	return nil
}

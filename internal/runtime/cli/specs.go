package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/runtime"
	"github.com/berth-project/berth/internal/runtime/seccomp"
)

func specCmd(_ *globals) *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec [flags]",
		Short: "write a template config.json into the bundle directory",
		Args:  exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			s := runtime.ExampleSpec()
			if rootless {
				s = runtime.RootlessSpec(uint32(os.Geteuid()), uint32(os.Getegid()))
			}
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("file %s exists: remove it first", path)
			}
			b, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(path, b, 0o666)
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "a spec for a user namespace owned by the caller")
	return cmd
}

func featuresCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "print what this runtime supports, as JSON",
		Args:  exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			t := true
			var mountOpts []string
			for _, o := range runtime.MountOptions() {
				mountOpts = append(mountOpts, o)
			}
			f := features.Features{
				OCIVersionMin: "1.0.0",
				OCIVersionMax: specs.Version,
				Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
				MountOptions:  mountOpts,
				Linux: &features.Linux{
					Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"},
					Capabilities: runtime.KnownCapabilities(),
					Cgroup:       &features.Cgroup{V1: &t, V2: &t, Systemd: new(bool), SystemdUser: new(bool), Rdma: new(bool)},
					Seccomp: &features.Seccomp{Enabled: &t, Actions: seccomp.Actions(), Operators: []string{
						"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"},
						Archs: seccomp.Archs(), KnownFlags: seccomp.Flags(), SupportedFlags: seccomp.Flags()},
					Apparmor:        &features.Apparmor{Enabled: new(bool)},
					Selinux:         &features.Selinux{Enabled: new(bool)},
					IntelRdt:        &features.IntelRdt{Enabled: new(bool)},
					MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: new(bool)}},
				},
				Annotations: map[string]string{"org.opencontainers.runtime-spec.features.version": specs.Version,
					"io.berth.runtime.version": Version},
			}
			return printJSON(f, true)
		},
	}
}

func updateCmd(g *globals) *cobra.Command {
	var (
		resources                         string
		memory, memSwap, memRes, cpuQuota int64
		cpuShares, cpuPeriod              uint64
		cpusetCpus, cpusetMems            string
		pidsLimit                         int64
		blkioWeight                       uint16
	)
	cmd := &cobra.Command{
		Use:   "update [flags] CONTAINER_ID",
		Short: "change the resource limits of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := &specs.LinuxResources{}
			if resources != "" {
				b, err := readFileOrStdin(resources)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, r); err != nil {
					return fmt.Errorf("parse resources: %w", err)
				}
			}
			fl := cmd.Flags()
			if fl.Changed("memory") || fl.Changed("memory-swap") || fl.Changed("memory-reservation") {
				if r.Memory == nil {
					r.Memory = &specs.LinuxMemory{}
				}
				if fl.Changed("memory") {
					r.Memory.Limit = &memory
				}
				if fl.Changed("memory-swap") {
					r.Memory.Swap = &memSwap
				}
				if fl.Changed("memory-reservation") {
					r.Memory.Reservation = &memRes
				}
			}
			if fl.Changed("cpu-shares") || fl.Changed("cpu-period") || fl.Changed("cpu-quota") || fl.Changed("cpuset-cpus") || fl.Changed("cpuset-mems") {
				if r.CPU == nil {
					r.CPU = &specs.LinuxCPU{}
				}
				if fl.Changed("cpu-shares") {
					r.CPU.Shares = &cpuShares
				}
				if fl.Changed("cpu-period") {
					r.CPU.Period = &cpuPeriod
				}
				if fl.Changed("cpu-quota") {
					r.CPU.Quota = &cpuQuota
				}
				if fl.Changed("cpuset-cpus") {
					r.CPU.Cpus = cpusetCpus
				}
				if fl.Changed("cpuset-mems") {
					r.CPU.Mems = cpusetMems
				}
			}
			if fl.Changed("pids-limit") {
				r.Pids = &specs.LinuxPids{Limit: &pidsLimit}
			}
			if fl.Changed("blkio-weight") {
				r.BlockIO = &specs.LinuxBlockIO{Weight: &blkioWeight}
			}
			return g.runtime().Update(args[0], r)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&resources, "resources", "r", "", "path to a JSON LinuxResources file (\"-\" for stdin)")
	f.Int64Var(&memory, "memory", 0, "memory limit in bytes")
	f.Int64Var(&memSwap, "memory-swap", 0, "memory+swap limit in bytes")
	f.Int64Var(&memRes, "memory-reservation", 0, "memory soft limit in bytes")
	f.Uint64Var(&cpuShares, "cpu-shares", 0, "CPU shares")
	f.Uint64Var(&cpuPeriod, "cpu-period", 0, "CFS period in µs")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "CFS quota in µs")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs to use")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "memory nodes to use")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "maximum number of pids")
	f.Uint16Var(&blkioWeight, "blkio-weight", 0, "block IO weight (10-1000)")
	return cmd
}

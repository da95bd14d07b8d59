package daemon

import (
	"context"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/internal/apiserver"
	engine "github.com/berth-project/berth/internal/engine/containers"
	"github.com/berth-project/berth/internal/engine/events"
)

// systemBackend answers /info and /version.
type systemBackend struct {
	cfg        *Config
	events     *events.Bus
	containers *engine.Service
	runtimes   map[string]engine.Runtime
	images     func(context.Context) int
}

func (s *systemBackend) SubscribeEvents(since time.Time) ([]eventtypes.Message, <-chan eventtypes.Message, func()) {
	return s.events.Subscribe(since)
}

func (s *systemBackend) MatchEvent(m eventtypes.Message, filters map[string][]string) bool {
	return events.Match(m, filters)
}

func (s *systemBackend) Version(context.Context) (system.VersionResponse, error) {
	kernel := kernelVersion()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth"},
		Version:       Version,
		APIVersion:    apiserver.APIVersion,
		MinAPIVersion: apiserver.MinAPIVersion,
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		GoVersion:     runtime.Version(),
		KernelVersion: kernel,
		Components: []system.ComponentVersion{{
			Name: "Engine", Version: Version,
			Details: map[string]string{"ApiVersion": apiserver.APIVersion, "MinAPIVersion": apiserver.MinAPIVersion, "Os": runtime.GOOS, "Arch": runtime.GOARCH, "GoVersion": runtime.Version(), "KernelVersion": kernel},
		}},
	}, nil
}

func (s *systemBackend) Info(ctx context.Context) (system.Info, error) {
	running, paused, stopped := s.containers.Counts()
	host, _ := os.Hostname()
	var si unix.Sysinfo_t
	_ = unix.Sysinfo(&si)
	rts := map[string]system.RuntimeWithStatus{}
	var names []string
	for name, rt := range s.runtimes {
		rts[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Binary, Args: rt.Args}}
		names = append(names, name)
	}
	sort.Strings(names)
	cgroupVersion := "1"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		cgroupVersion = "2"
	}
	images := 0
	if s.images != nil {
		images = s.images(ctx)
	}
	return system.Info{
		ID:                "berth",
		Containers:        running + paused + stopped,
		ContainersRunning: running,
		ContainersPaused:  paused,
		ContainersStopped: stopped,
		Images:            images,
		Driver:            "overlay",
		MemoryLimit:       true,
		SwapLimit:         true,
		CPUCfsPeriod:      true,
		CPUCfsQuota:       true,
		CPUShares:         true,
		CPUSet:            true,
		PidsLimit:         true,
		NGoroutines:       runtime.NumGoroutine(),
		SystemTime:        time.Now().Format(time.RFC3339Nano),
		LoggingDriver:     "json-file",
		InitBinary:        "docker-init", // berth-init, mounted where Docker mounts tini
		Plugins:           system.PluginsInfo{Volume: []string{"local"}, Log: []string{"json-file", "local", "none"}},
		CgroupDriver:      "cgroupfs",
		CgroupVersion:     cgroupVersion,
		KernelVersion:     kernelVersion(),
		OperatingSystem:   operatingSystem(),
		OSType:            runtime.GOOS,
		Architecture:      unameMachine(),
		NCPU:              runtime.NumCPU(),
		MemTotal:          int64(si.Totalram) * int64(si.Unit),
		DockerRootDir:     s.cfg.DataRoot,
		Name:              host,
		ServerVersion:     Version,
		Runtimes:          rts,
		DefaultRuntime:    s.cfg.DefaultRuntime,
		SecurityOptions:   []string{"name=seccomp,profile=builtin"},
		Labels:            []string{},
		Warnings:          []string{},
	}, nil
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func unameMachine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return runtime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func operatingSystem() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

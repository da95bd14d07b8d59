package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/internal/errdefs"
)

// Top lists the container's processes with ps(1) and psArgs ("-ef" by
// default), as Docker does.
func (s *Service) Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	var resp container.TopResponse
	c, err := s.store.Get(ref)
	if err != nil {
		return resp, err
	}
	if !c.State.Running() || c.State.Status == container.StateRestarting {
		return resp, errdefs.Conflictf("container %s is not running", c.ID)
	}
	rt, err := s.shimRuntime(c)
	if err != nil {
		return resp, err
	}
	argv := rt.Argv("ps", "--format", "json", c.ID)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		return resp, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return resp, fmt.Errorf("list processes: %w", err)
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	psOut, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return resp, errdefs.InvalidArgumentf("ps %s: %v", psArgs, err)
	}
	return parsePS(string(psOut), pids)
}

// parsePS keeps the lines of ps output whose PID column is one of pids.
func parsePS(out string, pids []int) (container.TopResponse, error) {
	var resp container.TopResponse
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return resp, fmt.Errorf("ps printed nothing")
	}
	resp.Titles = strings.Fields(lines[0])
	pidCol := -1
	for i, t := range resp.Titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return resp, errdefs.InvalidArgumentf("couldn't find PID field in ps output")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	resp.Processes = [][]string{}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !want[pid] {
			continue
		}
		n := len(resp.Titles)
		if len(f) > n {
			f = append(f[:n-1], strings.Join(f[n-1:], " "))
		}
		resp.Processes = append(resp.Processes, f)
	}
	return resp, nil
}

package container

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

const defaultStatsFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeader = map[string]string{
	"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
	"MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}

func newStatsCommand(cli *command.CLI) *cobra.Command {
	var noStream, noTrunc, all bool
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			if len(args) == 0 {
				list, err := c.ContainerList(ctx, client.ContainerListOptions{All: all})
				if err != nil {
					return err
				}
				for _, s := range list.Items {
					args = append(args, s.ID)
				}
			}
			if fmtStr == "" {
				fmtStr = defaultStatsFormat
			}
			for {
				rows, err := collectStats(ctx, c, args, noTrunc)
				if err != nil {
					return err
				}
				if !noStream {
					fmt.Fprint(cli.Out, "\033[2J\033[H")
				}
				if err := format.Table(cli.Out, fmtStr, statsHeader, rows); err != nil {
					return err
				}
				if noStream {
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate output")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().StringVar(&fmtStr, "format", "", "Format output using a custom template")
	return cmd
}

// collectStats takes one sample of each container, in parallel.
func collectStats(ctx context.Context, c *client.Client, ids []string, noTrunc bool) ([]any, error) {
	rows := make([]any, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.ContainerStats(ctx, id, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: true})
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			var st container.StatsResponse
			if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
				errs[i] = err
				return
			}
			rows[i] = statsRow{st: st, trunc: !noTrunc, arg: id}
		}()
	}
	wg.Wait()
	var msgs []string
	var out []any
	for i, r := range rows {
		if errs[i] != nil {
			msgs = append(msgs, errs[i].Error())
			continue
		}
		out = append(out, r)
	}
	return out, command.JoinErrors(msgs)
}

type statsRow struct {
	st    container.StatsResponse
	trunc bool
	arg   string
}

func (r statsRow) ID() string {
	if r.trunc && len(r.st.ID) > 12 {
		return r.st.ID[:12]
	}
	return r.st.ID
}
func (r statsRow) Container() string { return r.arg }
func (r statsRow) Name() string      { return strings.TrimPrefix(r.st.Name, "/") }
func (r statsRow) CPUPerc() string {
	cpu := float64(r.st.CPUStats.CPUUsage.TotalUsage) - float64(r.st.PreCPUStats.CPUUsage.TotalUsage)
	sys := float64(r.st.CPUStats.SystemUsage) - float64(r.st.PreCPUStats.SystemUsage)
	p := 0.0
	if cpu > 0 && sys > 0 {
		p = cpu / sys * float64(r.st.CPUStats.OnlineCPUs) * 100
	}
	return fmt.Sprintf("%.2f%%", p)
}
func (r statsRow) memUsed() float64 {
	m := r.st.MemoryStats
	used := m.Usage
	if v, ok := m.Stats["total_inactive_file"]; ok && v < used {
		used -= v
	} else if v, ok := m.Stats["inactive_file"]; ok && v < used {
		used -= v
	}
	return float64(used)
}
func (r statsRow) MemUsage() string {
	return units.BytesSize(r.memUsed()) + " / " + units.BytesSize(float64(r.st.MemoryStats.Limit))
}
func (r statsRow) MemPerc() string {
	if r.st.MemoryStats.Limit == 0 {
		return "0.00%"
	}
	return fmt.Sprintf("%.2f%%", r.memUsed()/float64(r.st.MemoryStats.Limit)*100)
}
func (r statsRow) NetIO() string {
	var rx, tx float64
	for _, n := range r.st.Networks {
		rx += float64(n.RxBytes)
		tx += float64(n.TxBytes)
	}
	return units.HumanSizeWithPrecision(rx, 3) + " / " + units.HumanSizeWithPrecision(tx, 3)
}
func (r statsRow) BlockIO() string {
	var rd, wr float64
	for _, e := range r.st.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			rd += float64(e.Value)
		case "write":
			wr += float64(e.Value)
		}
	}
	return units.HumanSizeWithPrecision(rd, 3) + " / " + units.HumanSizeWithPrecision(wr, 3)
}
func (r statsRow) PIDs() string { return fmt.Sprint(r.st.PidsStats.Current) }

package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/runtime"
)

func printJSON(v any, indent bool) error {
	enc := json.NewEncoder(os.Stdout)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

func isNotExist(err error) bool { return errors.Is(err, runtime.ErrNotExist) }

func listCmd(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list [flags]",
		Aliases: []string{"ls"},
		Short:   "list containers",
		Args:    exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			states, err := g.runtime().List()
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range states {
					fmt.Println(s.ID)
				}
				return nil
			}
			switch format {
			case "json":
				if states == nil {
					states = []*runtime.State{}
				}
				return printJSON(states, false)
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			}
			return fmt.Errorf("invalid format %q: use table or json", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only container IDs")
	return cmd
}

func psCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [flags] CONTAINER_ID [ps options]",
		Short: "list the processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			pids, err := g.runtime().Pids(args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				return printJSON(pids, false)
			}
			if format != "table" {
				return fmt.Errorf("invalid format %q: use table or json", format)
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return fmt.Errorf("ps: %w", err)
			}
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			col := -1
			for i, h := range strings.Fields(lines[0]) {
				if h == "PID" {
					col = i
				}
			}
			if col < 0 {
				return fmt.Errorf("ps output has no PID column")
			}
			want := map[int]bool{}
			for _, p := range pids {
				want[p] = true
			}
			fmt.Println(lines[0])
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if len(f) > col {
					if p, err := strconv.Atoi(f[col]); err == nil && want[p] {
						fmt.Println(l)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func eventsCmd(g *globals) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [flags] CONTAINER_ID",
		Short: "print container statistics (and OOM events) as JSON",
		Args:  exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rt := g.runtime()
			id := args[0]
			if interval <= 0 {
				return fmt.Errorf("interval must be greater than 0")
			}
			for {
				st, err := rt.State(id)
				if err != nil {
					return err
				}
				if st.Status == runtime.Stopped {
					if stats {
						return fmt.Errorf("container %s is not running", id)
					}
					return nil
				}
				s, err := rt.Stats(id)
				if err != nil {
					return err
				}
				if err := printJSON(event{Type: "stats", ID: id, Data: s}, false); err != nil {
					return err
				}
				if stats {
					return nil
				}
				time.Sleep(interval)
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print the statistics once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "statistics interval")
	return cmd
}

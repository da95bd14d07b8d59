package system

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

// NewEventsCommand returns `berth events`.
func NewEventsCommand(cli *command.CLI) *cobra.Command {
	var since, until, fmtStr string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			res := c.Events(ctx, client.EventsListOptions{Since: since, Until: until, Filters: command.Filters(filters)})
			for {
				select {
				case m := <-res.Messages:
					if err := printEvent(cli.Out, fmtStr, m); err != nil {
						return err
					}
				case err := <-res.Err:
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.Flags().StringVar(&fmtStr, "format", "", "Format the output using the given Go template")
	return cmd
}

// printEvent prints a message as docker does:
// TIME TYPE ACTION ID (k=v, ...).
func printEvent(w io.Writer, fmtStr string, m events.Message) error {
	if fmtStr != "" {
		return format.Each(w, fmtStr, []any{m})
	}
	t := time.Unix(0, m.TimeNano).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
	var attrs []string
	for k, v := range m.Actor.Attributes {
		attrs = append(attrs, k+"="+v)
	}
	sort.Strings(attrs)
	_, err := fmt.Fprintf(w, "%s %s %s %s (%s)\n", t, m.Type, m.Action, m.Actor.ID, strings.Join(attrs, ", "))
	return err
}

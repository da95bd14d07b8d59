package container

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
	"github.com/berth-project/berth/internal/image/reference"
)

const defaultPSFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

var psHeader = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
	"CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
	"Labels": "LABELS", "State": "STATE", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE",
}

func newPsCommand(cli *command.CLI) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var filters []string
	var fmtStr string
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Aliases: []string{"ls", "list"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, fl := range filters {
				k, v, ok := strings.Cut(fl, "=")
				if !ok {
					return statusErr(125, fmt.Sprintf("bad format of filter (expected name=value): %s", fl))
				}
				f.Add(k, v)
			}
			opts := client.ContainerListOptions{All: all, Filters: f, Limit: last}
			if latest {
				opts.Limit = 1
			}
			if opts.Limit > 0 {
				opts.All = true
			}
			res, err := c.ContainerList(ctx, opts)
			if err != nil {
				return err
			}
			if quiet {
				for _, s := range res.Items {
					id := s.ID
					if !noTrunc {
						id = id[:12]
					}
					fmt.Fprintln(cli.Out, id)
				}
				return nil
			}
			if fmtStr == "" {
				fmtStr = defaultPSFormat
			}
			items := make([]any, 0, len(res.Items))
			now := time.Now()
			for _, s := range res.Items {
				items = append(items, psRow{s: s, trunc: !noTrunc, now: now})
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, psHeader, items)
			}
			return format.Each(cli.Out, fmtStr, items)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVarP(&latest, "latest", "l", false, "Show the latest created container")
	fl.IntVarP(&last, "last", "n", 0, "Show n last created containers")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	fl.StringVar(&fmtStr, "format", "", "Format output using a custom template")
	fl.BoolP("size", "s", false, "Display total file sizes")
	return cmd
}

// psRow is one line of ps, with the fields docker's templates use.
type psRow struct {
	s     container.Summary
	trunc bool
	now   time.Time
}

func (r psRow) ID() string {
	if r.trunc {
		return r.s.ID[:12]
	}
	return r.s.ID
}

// Image is the image as the container was created from it; truncated
// (the default) an ID is shortened and a digest left out, as docker shows
// them (busybox@sha256:... is busybox).
func (r psRow) Image() string {
	img := r.s.Image
	if img == "" {
		return "<no image>"
	}
	if !r.trunc {
		return img
	}
	if short := shortImageID(r.s.ImageID); short == shortImageID(img) {
		return short
	}
	n, err := reference.ParseNamed(img)
	if err != nil {
		return img
	}
	if tag := reference.Tag(n); tag != "" {
		if t, err := reference.WithTag(n, tag); err == nil {
			return reference.Familiar(t.String())
		}
	}
	return reference.FamiliarName(n)
}

// shortImageID is docker's TruncateID: no algorithm, at most 12
// characters.
func shortImageID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func (r psRow) Command() string {
	c := r.s.Command
	if r.trunc && len([]rune(c)) > 20 {
		c = string([]rune(c)[:19]) + "…"
	}
	return strconv.Quote(c)
}
func (r psRow) CreatedAt() string {
	return time.Unix(r.s.Created, 0).Format("2006-01-02 15:04:05 -0700 MST")
}
func (r psRow) RunningFor() string {
	return humanDuration(r.now.Sub(time.Unix(r.s.Created, 0))) + " ago"
}
func (r psRow) Status() string { return r.s.Status }
func (r psRow) State() string  { return string(r.s.State) }
func (r psRow) Ports() string  { return portsColumn(r.s.Ports) }
func (r psRow) Size() string   { return "0B" }
func (r psRow) Names() string {
	var names []string
	for _, n := range r.s.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	return strings.Join(names, ",")
}
func (r psRow) Labels() string {
	var l []string
	for k, v := range r.s.Labels {
		l = append(l, k+"="+v)
	}
	return strings.Join(l, ",")
}
func (r psRow) Label(name string) string { return r.s.Labels[name] }
func (r psRow) Mounts() string {
	var m []string
	for _, mp := range r.s.Mounts {
		n := mp.Name
		if n == "" {
			n = mp.Source
		}
		m = append(m, n)
	}
	return strings.Join(m, ",")
}
func (r psRow) Networks() string {
	var n []string
	if r.s.NetworkSettings != nil {
		for k := range r.s.NetworkSettings.Networks {
			n = append(n, k)
		}
	}
	return strings.Join(n, ",")
}

func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	default:
		return fmt.Sprintf("%d days", h/24)
	}
}

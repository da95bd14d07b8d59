package system

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
	"github.com/berth-project/berth/internal/image/reference"
)

const defaultDFFormat = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

var dfHeader = map[string]string{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}

// NewDFCommand returns `berth system df`.
func NewDFCommand(cli *command.CLI) *cobra.Command {
	var verbose bool
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := cli.Client(ctx)
			if err != nil {
				return err
			}
			du, err := c.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
			if err != nil {
				return command.StatusError{Status: err.Error(), StatusCode: 1}
			}
			if verbose {
				return printVerboseDF(cli, du)
			}
			if fmtStr == "" {
				fmtStr = defaultDFFormat
			}
			rows := []any{
				dfRow{"Images", du.Images.TotalCount, du.Images.ActiveCount, du.Images.TotalSize, du.Images.Reclaimable, true},
				dfRow{"Containers", du.Containers.TotalCount, du.Containers.ActiveCount, du.Containers.TotalSize, du.Containers.Reclaimable, true},
				dfRow{"Local Volumes", du.Volumes.TotalCount, du.Volumes.ActiveCount, du.Volumes.TotalSize, du.Volumes.Reclaimable, true},
				dfRow{"Build Cache", du.BuildCache.TotalCount, du.BuildCache.ActiveCount, du.BuildCache.TotalSize, du.BuildCache.Reclaimable, false},
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, dfHeader, rows)
			}
			return format.Each(cli.Out, fmtStr, rows)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&fmtStr, "format", "", "Format output using a custom template")
	return cmd
}

// dfRow is one line of `system df`.
type dfRow struct {
	typ                          string
	total, active, size, reclaim int64
	percent                      bool
}

func (r dfRow) Type() string       { return r.typ }
func (r dfRow) TotalCount() string { return strconv.FormatInt(r.total, 10) }
func (r dfRow) Active() string     { return strconv.FormatInt(r.active, 10) }
func (r dfRow) Size() string       { return units.HumanSize(float64(r.size)) }
func (r dfRow) Reclaimable() string {
	s := units.HumanSize(float64(r.reclaim))
	if r.percent && r.size > 0 {
		s += fmt.Sprintf(" (%v%%)", int(float64(r.reclaim)*100/float64(r.size)))
	}
	return s
}

// MarshalJSON gives `--format json` docker's keys.
func (r dfRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"Type": r.Type(), "TotalCount": r.TotalCount(), "Active": r.Active(), "Size": r.Size(), "Reclaimable": r.Reclaimable()})
}

func since(now time.Time, unix int64) string {
	return units.HumanDuration(now.UTC().Sub(time.Unix(unix, 0))) + " ago"
}

func short(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func printVerboseDF(cli *command.CLI, du client.DiskUsageResult) error {
	now := time.Now()
	w := cli.Out
	fmt.Fprintf(w, "Images space usage:\n\n")
	var rows []any
	for _, im := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(im.RepoTags) > 0 {
			if n, err := reference.ParseNamed(im.RepoTags[0]); err == nil {
				repo, tag = reference.FamiliarName(n), reference.Tag(n)
			}
		}
		rows = append(rows, map[string]string{
			"Repository": repo, "Tag": tag, "ID": short(im.ID), "CreatedSince": since(now, im.Created),
			"Size": units.HumanSizeWithPrecision(float64(im.Size), 3), "SharedSize": units.HumanSize(float64(im.SharedSize)),
			"UniqueSize": units.HumanSize(float64(im.Size - im.SharedSize)), "Containers": strconv.FormatInt(im.Containers, 10),
		})
	}
	if err := format.Table(w, "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		map[string]string{"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nContainers space usage:\n\n")
	rows = nil
	for _, c := range du.Containers.Items {
		vols := 0
		for _, m := range c.Mounts {
			if m.Type == mount.TypeVolume {
				vols++
			}
		}
		cmd := c.Command
		if len([]rune(cmd)) > 20 {
			cmd = string([]rune(cmd)[:19]) + "…"
		}
		var names []string
		for _, n := range c.Names {
			names = append(names, strings.TrimPrefix(n, "/"))
		}
		rows = append(rows, map[string]string{
			"ID": short(c.ID), "Image": c.Image, "Command": strconv.Quote(cmd), "LocalVolumes": strconv.Itoa(vols),
			"Size": units.HumanSizeWithPrecision(float64(c.SizeRw), 3), "CreatedSince": since(now, c.Created),
			"Status": c.Status, "Names": strings.Join(names, ","),
		})
	}
	if err := format.Table(w, "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}",
		map[string]string{"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "CreatedSince": "CREATED", "Status": "STATUS", "Names": "NAMES"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nLocal Volumes space usage:\n\n")
	rows = nil
	for _, v := range du.Volumes.Items {
		links, size := "N/A", "N/A"
		if v.UsageData != nil {
			links, size = strconv.FormatInt(v.UsageData.RefCount, 10), units.HumanSizeWithPrecision(float64(v.UsageData.Size), 3)
		}
		rows = append(rows, map[string]string{"Name": v.Name, "Links": links, "Size": size})
	}
	if err := format.Table(w, "table {{.Name}}\t{{.Links}}\t{{.Size}}", map[string]string{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	rows = nil
	for _, b := range du.BuildCache.Items {
		last := ""
		if b.LastUsedAt != nil {
			last = since(now, b.LastUsedAt.Unix())
		}
		rows = append(rows, map[string]string{
			"ID": short(b.ID), "Type": b.Type, "Size": units.HumanSizeWithPrecision(float64(b.Size), 3),
			"Created": since(now, b.CreatedAt.Unix()), "LastUsed": last, "Usage": strconv.Itoa(b.UsageCount), "Shared": strconv.FormatBool(b.Shared),
		})
	}
	return format.Table(w, "table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}",
		map[string]string{"ID": "CACHE ID", "Type": "CACHE TYPE", "Size": "SIZE", "Created": "CREATED", "LastUsed": "LAST USED", "Usage": "USAGE", "Shared": "SHARED"}, rows)
}

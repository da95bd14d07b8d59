package image

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	units "github.com/docker/go-units"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
	"github.com/berth-project/berth/internal/image/reference"
)

const (
	defaultImagesFormat        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	defaultImagesDigestsFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)

var imagesHeader = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID", "CreatedSince": "CREATED",
	"CreatedAt": "CREATED AT", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
	"VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS",
}

func newListCommand(cli *command.CLI, use string) *cobra.Command {
	var all, quiet, digests, noTrunc bool
	var filters []string
	var fmtStr string
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, fl := range filters {
				k, v, ok := strings.Cut(fl, "=")
				if !ok {
					return command.StatusError{Status: fmt.Sprintf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value)", fl), StatusCode: 125}
				}
				f.Add(k, v)
			}
			if len(args) == 1 {
				f.Add("reference", args[0])
			}
			res, err := c.ImageList(ctx, client.ImageListOptions{All: all, Filters: f})
			if err != nil {
				return command.Failure(err)
			}
			if quiet && fmtStr == "" {
				fmtStr = "{{.ID}}"
			}
			if fmtStr == "" {
				fmtStr = defaultImagesFormat
				if digests {
					fmtStr = defaultImagesDigestsFormat
				}
			}
			now := time.Now()
			var items []any
			for _, s := range res.Items {
				for _, row := range imageRows(s, digests, digests || strings.Contains(fmtStr, "{{.Digest}}")) {
					row.trunc, row.now = !noTrunc, now
					items = append(items, row)
				}
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, imagesHeader, items)
			}
			return format.Each(cli.Out, fmtStr, items)
		},
	}
	if use == "ls" {
		cmd.Aliases = []string{"list"}
	}
	fl := cmd.Flags()
	fl.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVar(&digests, "digests", false, "Show digests")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	fl.StringVar(&fmtStr, "format", "", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template")
	return cmd
}

// imageRow is one line of `images`: an image under one of its names.
type imageRow struct {
	s                 imagetypes.Summary
	repo, tag, digest string
	trunc             bool
	now               time.Time
}

// imageRows expands an image into rows as docker's CLI does: one per
// repository and tag, with each digest of that repository when digests
// are wanted (--digests, or a format showing {{.Digest}}); then the
// repositories known by digest only, with tag <none> (one row per digest
// with --digests, else one row with no digest); <none> for an image with
// no name at all.
func imageRows(s imagetypes.Summary, showDigests, needDigest bool) []*imageRow {
	tags := map[string][]string{}
	digests := map[string][]string{}
	var tagRepos, digestRepos []string
	for _, t := range s.RepoTags {
		n, err := reference.ParseNamed(t)
		if err != nil || reference.Tag(n) == "" {
			continue
		}
		repo := reference.FamiliarName(n)
		if _, ok := tags[repo]; !ok {
			tagRepos = append(tagRepos, repo)
		}
		tags[repo] = append(tags[repo], reference.Tag(n))
	}
	for _, d := range s.RepoDigests {
		n, err := reference.ParseNamed(d)
		if err != nil || reference.Digest(n) == "" {
			continue
		}
		repo := reference.FamiliarName(n)
		if _, ok := digests[repo]; !ok && tags[repo] == nil {
			digestRepos = append(digestRepos, repo)
		}
		digests[repo] = append(digests[repo], reference.Digest(n).String())
	}
	sort.Strings(tagRepos)
	sort.Strings(digestRepos)
	var rows []*imageRow
	for _, repo := range tagRepos {
		ts, ds := tags[repo], digests[repo]
		if !needDigest {
			ds = nil
		}
		sort.Strings(ts)
		for _, t := range ts {
			if len(ds) == 0 {
				rows = append(rows, &imageRow{s: s, repo: repo, tag: t, digest: "<none>"})
			}
			for _, d := range ds {
				rows = append(rows, &imageRow{s: s, repo: repo, tag: t, digest: d})
			}
		}
	}
	for _, repo := range digestRepos {
		if !showDigests {
			rows = append(rows, &imageRow{s: s, repo: repo, tag: "<none>", digest: ""})
			continue
		}
		for _, d := range digests[repo] {
			rows = append(rows, &imageRow{s: s, repo: repo, tag: "<none>", digest: d})
		}
	}
	if len(rows) == 0 {
		rows = append(rows, &imageRow{s: s, repo: "<none>", tag: "<none>", digest: "<none>"})
	}
	return rows
}

func (r *imageRow) ID() string {
	if r.trunc {
		return shortID(r.s.ID)
	}
	return r.s.ID
}
func (r *imageRow) Repository() string { return r.repo }
func (r *imageRow) Tag() string        { return r.tag }
func (r *imageRow) Digest() string     { return r.digest }
func (r *imageRow) CreatedSince() string {
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.s.Created, 0))) + " ago"
}
func (r *imageRow) CreatedAt() string   { return time.Unix(r.s.Created, 0).String() }
func (r *imageRow) Size() string        { return units.HumanSizeWithPrecision(float64(r.s.Size), 3) }
func (r *imageRow) VirtualSize() string { return units.HumanSize(float64(r.s.Size)) }
func (r *imageRow) SharedSize() string {
	if r.s.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.s.SharedSize))
}
func (r *imageRow) UniqueSize() string {
	if r.s.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.s.Size - r.s.SharedSize))
}
func (r *imageRow) Containers() string {
	if r.s.Containers == -1 {
		return "N/A"
	}
	return fmt.Sprint(r.s.Containers)
}

// MarshalJSON gives `--format json` docker's keys.
func (r *imageRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Containers": r.Containers(), "CreatedAt": r.CreatedAt(), "CreatedSince": r.CreatedSince(),
		"Digest": r.Digest(), "ID": r.ID(), "Repository": r.Repository(), "SharedSize": r.SharedSize(),
		"Size": r.Size(), "Tag": r.Tag(), "UniqueSize": r.UniqueSize(), "VirtualSize": r.VirtualSize(),
	})
}

// shortID is the 12 hex digits docker shows of an ID ("<missing>" and
// other non-IDs unchanged).
func shortID(id string) string {
	if _, hex, ok := strings.Cut(id, ":"); ok {
		id = hex
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

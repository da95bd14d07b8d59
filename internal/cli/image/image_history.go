package image

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	units "github.com/docker/go-units"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/cli/format"
)

const defaultHistoryFormat = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

var historyHeader = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
	"Size": "SIZE", "Comment": "COMMENT",
}

func newHistoryCommand(cli *command.CLI) *cobra.Command {
	var human, quiet, noTrunc bool
	var fmtStr string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := apiClient(ctx, cli)
			if err != nil {
				return err
			}
			res, err := c.ImageHistory(ctx, args[0])
			if err != nil {
				return command.Failure(err)
			}
			if quiet && fmtStr == "" {
				fmtStr = "{{.ID}}"
			}
			if fmtStr == "" {
				fmtStr = defaultHistoryFormat
			}
			now := time.Now()
			items := make([]any, 0, len(res.Items))
			for _, h := range res.Items {
				items = append(items, &historyRow{h: h, human: human, trunc: !noTrunc, now: now})
			}
			if format.IsTable(fmtStr) {
				return format.Table(cli.Out, fmtStr, historyHeader, items)
			}
			return format.Each(cli.Out, fmtStr, items)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.StringVar(&fmtStr, "format", "", "Format output using a custom template")
	return cmd
}

// historyRow is one line of `history`.
type historyRow struct {
	h            imagetypes.HistoryResponseItem
	human, trunc bool
	now          time.Time
}

func (r *historyRow) ID() string {
	if r.trunc {
		return shortID(r.h.ID)
	}
	return r.h.ID
}
func (r *historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }
func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.h.Created, 0))) + " ago"
}
func (r *historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(by, 45)
	}
	return by
}
func (r *historyRow) Size() string {
	if r.human {
		return units.HumanSizeWithPrecision(float64(r.h.Size), 3)
	}
	return strconv.FormatInt(r.h.Size, 10)
}
func (r *historyRow) Comment() string { return r.h.Comment }

// MarshalJSON gives `--format json` docker's keys.
func (r *historyRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Comment": r.Comment(), "CreatedAt": r.CreatedAt(), "CreatedBy": r.CreatedBy(),
		"CreatedSince": r.CreatedSince(), "ID": r.ID(), "Size": r.Size(),
	})
}

// ellipsis truncates s to at most n runes, the last one "…".
func ellipsis(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

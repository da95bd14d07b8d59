package command

import (
	"encoding/json"
	"fmt"

	"github.com/berth-project/berth/internal/cli/format"
)

// PrintDeleted prints what a prune removed, as docker does: a title line,
// one line per item and a blank line; nothing when there is none.
func (c *CLI) PrintDeleted(title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintln(c.Out, title)
	for _, it := range items {
		fmt.Fprintln(c.Out, it)
	}
	fmt.Fprintln(c.Out)
}

// Inspect prints the objects get returns for names (see format.Inspect)
// and then the errors of those it could not get, as docker's inspect
// commands do.
func (c *CLI) Inspect(fmtStr string, names []string, get func(name string) (json.RawMessage, error)) error {
	var raws []json.RawMessage
	var errs []string
	for _, n := range names {
		raw, err := get(n)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		raws = append(raws, raw)
	}
	if err := format.Inspect(c.Out, fmtStr, raws); err != nil {
		return err
	}
	return JoinErrors(errs)
}

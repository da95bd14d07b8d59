// Package format renders CLI output with Go templates the way docker's
// --format does ("json", "table ..." and the usual template functions).
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Funcs are docker's template functions.
var Funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": strings.Title, //nolint:staticcheck // docker's behaviour
	"pad":   func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
	"println": fmt.Sprintln,
}

// Parse parses a --format value; "json" prints each item as JSON.
func Parse(f string) (*template.Template, error) {
	if f == "json" {
		f = "{{json .}}"
	}
	f = strings.TrimPrefix(f, "table ")
	f = strings.ReplaceAll(f, `\t`, "\t")
	f = strings.ReplaceAll(f, `\n`, "\n")
	t, err := template.New("format").Funcs(Funcs).Parse(f)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// IsTable reports whether the format asks for a table with a header.
func IsTable(f string) bool { return strings.HasPrefix(f, "table") }

// Table writes a tab-aligned table: the header row (unless header is nil)
// then one row per item rendered by the template.
func Table(w io.Writer, f string, header map[string]string, items []any) error {
	t, err := Parse(f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	if header != nil && IsTable(f) {
		var b bytes.Buffer
		if err := t.Execute(&b, header); err == nil {
			fmt.Fprintln(tw, strings.TrimRight(b.String(), "\n"))
		}
	}
	for _, it := range items {
		var b bytes.Buffer
		if err := t.Execute(&b, it); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		fmt.Fprintln(tw, strings.TrimRight(b.String(), "\n"))
	}
	return tw.Flush()
}

// Each renders one item per line with the template (no alignment).
func Each(w io.Writer, f string, items []any) error {
	t, err := Parse(f)
	if err != nil {
		return err
	}
	for _, it := range items {
		var b bytes.Buffer
		if err := t.Execute(&b, it); err != nil {
			return fmt.Errorf("template: %w", err)
		}
		s := b.String()
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		io.WriteString(w, s)
	}
	return nil
}

// Inspect prints raw API objects as an indented JSON array, or each
// through the template (executed on the generic JSON, as docker does).
func Inspect(w io.Writer, f string, raws []json.RawMessage) error {
	if f == "" {
		var buf bytes.Buffer
		buf.WriteString("[")
		for i, r := range raws {
			if i > 0 {
				buf.WriteString(",")
			}
			buf.Write(r)
		}
		buf.WriteString("]")
		var out bytes.Buffer
		if err := json.Indent(&out, buf.Bytes(), "", "    "); err != nil {
			return err
		}
		fmt.Fprintln(w, out.String())
		return nil
	}
	items := make([]any, 0, len(raws))
	for _, r := range raws {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return err
		}
		items = append(items, v)
	}
	return Each(w, f, items)
}

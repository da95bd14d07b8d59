package command

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/moby/moby/client"
)

// KeyValues makes a map of KEY=VALUE flag values (labels, options); a
// value without "=" is a key with an empty value.
func KeyValues(list []string) map[string]string {
	m := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Filters makes the API filters of --filter NAME=VALUE values.
func Filters(list []string) client.Filters {
	f := client.Filters{}
	for _, fl := range list {
		k, v, _ := strings.Cut(fl, "=")
		f.Add(k, v)
	}
	return f
}

// Confirm asks docker's question after warning and reports whether the
// answer on the CLI's input is yes.
func (c *CLI) Confirm(warning string) bool {
	fmt.Fprintf(c.Out, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(c.In).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

package build

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/berth-project/berth/internal/image/reference"
)

// isID reports whether ref is an image ID (never pulled).
func isID(ref string) bool {
	_, full, ok := reference.ParseID(ref)
	return ok && (full || strings.HasPrefix(ref, "sha256:"))
}

// registryAuth picks the auth config for ref's registry out of an
// X-Registry-Config header and returns it as an X-Registry-Auth value.
func registryAuth(config, ref string) string {
	if config == "" {
		return ""
	}
	raw, err := base64.URLEncoding.DecodeString(config)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(config); err != nil {
			return ""
		}
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(raw, &all) != nil {
		return ""
	}
	domain := "docker.io"
	if n, err := reference.ParseNamed(ref); err == nil {
		domain = reference.Domain(n)
	}
	keys := []string{domain, "https://" + domain, "http://" + domain}
	if domain == "docker.io" {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io")
	}
	for _, k := range keys {
		if a, ok := all[k]; ok {
			return base64.URLEncoding.EncodeToString(a)
		}
	}
	return ""
}

// pullProgress turns the JSON progress messages of a pull into the text
// lines of a build's output ("<id>: <status>").
type pullProgress struct {
	w   io.Writer
	buf bytes.Buffer
}

func (p *pullProgress) Write(b []byte) (int, error) {
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			p.buf.Write(line) // an incomplete message: wait for the rest
			return len(b), nil
		}
		var m jsonstream.Message
		if json.Unmarshal(bytes.TrimSpace(line), &m) != nil {
			continue
		}
		switch {
		case m.Error != nil:
			fmt.Fprintf(p.w, "%s\n", m.Error.Message)
		case m.Progress != nil && m.Progress.Total > 0 && m.Progress.Current < m.Progress.Total:
			// transfer progress: too chatty for a build's text output
		case m.ID != "":
			fmt.Fprintf(p.w, "%s: %s\n", m.ID, m.Status)
		case m.Status != "":
			fmt.Fprintf(p.w, "%s\n", m.Status)
		}
	}
}

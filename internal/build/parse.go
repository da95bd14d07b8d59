package build

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/berth-project/berth/internal/errdefs"
)

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name     string
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	escape   rune
	warnings []string
}

// parseDockerfile parses src with buildkit's parser. Errors carry Docker's
// wording, prefixed with the file name and line ("Dockerfile:3: dockerfile
// parse error on line 3: unknown instruction: FOO").
func parseDockerfile(name string, src []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		if strings.Contains(err.Error(), "file with no instructions") {
			return nil, errdefs.InvalidArgumentf("the Dockerfile (%s) cannot be empty", name)
		}
		return nil, locate(name, src, err)
	}
	if len(res.AST.Children) == 0 {
		return nil, errdefs.InvalidArgumentf("the Dockerfile (%s) cannot be empty", name)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, src, err)
	}
	if len(stages) == 0 {
		return nil, errdefs.InvalidArgumentf("%s: no build stage in current context (a FROM instruction is missing)", name)
	}
	d := &dockerfile{name: name, stages: stages, metaArgs: metaArgs, escape: res.EscapeToken}
	for _, w := range res.Warnings {
		d.warnings = append(d.warnings, w.Short)
	}
	return d, nil
}

// locate prefixes a parse error with file:line and, when the message does
// not name the instruction, the offending source line.
func locate(name string, src []byte, err error) error {
	line := 0
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	var ue *instructions.UnknownInstructionError
	if line == 0 && errors.As(err, &ue) {
		line = ue.Line
	}
	if line == 0 {
		// instructions.Parse wraps with "dockerfile parse error on line N".
		msg := err.Error()
		if i := strings.Index(msg, "on line "); i >= 0 {
			rest := msg[i+len("on line "):]
			if j := strings.IndexByte(rest, ':'); j > 0 {
				line, _ = strconv.Atoi(rest[:j])
			}
		}
	}
	msg := err.Error()
	if line <= 0 {
		return errdefs.InvalidArgumentf("%s: %s", name, msg)
	}
	if !strings.Contains(msg, "parse error") {
		msg = fmt.Sprintf("dockerfile parse error on line %d: %s", line, msg)
	}
	if ue == nil && !strings.Contains(msg, "unknown instruction") {
		if l := sourceLine(src, line); l != "" {
			msg += fmt.Sprintf(" (%s)", l)
		}
	}
	return errdefs.InvalidArgumentf("%s:%d: %s", name, line, msg)
}

func sourceLine(src []byte, n int) string {
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	l := strings.TrimSpace(lines[n-1])
	if len(l) > 80 {
		l = l[:77] + "..."
	}
	return l
}

// stepError attaches the Dockerfile location of cmd to err, keeping err's
// class and Docker's wording as the message tail.
type stepError struct {
	loc string
	err error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// Location returns "Dockerfile:LINE".
func (e *stepError) Location() string { return e.loc }

func atLocation(file string, rs []parser.Range, err error) error {
	if err == nil {
		return nil
	}
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	loc := file
	if len(rs) > 0 {
		loc = fmt.Sprintf("%s:%d", file, rs[0].Start.Line)
	}
	return &stepError{loc: loc, err: err}
}

// Location returns the "file:line" of the Dockerfile step a build error
// happened in ("" if none).
func Location(err error) string {
	var se *stepError
	if errors.As(err, &se) {
		return se.loc
	}
	return ""
}

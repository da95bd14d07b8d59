package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Runtime names an OCI runtime with runc's command line.
type Runtime struct {
	Binary string
	Args   []string // before the global flags
	Root   string
	// Log, when set, is passed as --log with --log-format json so that
	// errors of commands whose stderr belongs to the container are kept.
	Log string
}

// Argv returns the full argv for `runtime [args] --root R [--log L] cmd args...`.
func (r Runtime) Argv(cmd string, args ...string) []string {
	argv := append([]string{r.Binary}, r.Args...)
	if r.Root != "" {
		argv = append(argv, "--root", r.Root)
	}
	if r.Log != "" {
		argv = append(argv, "--log", r.Log, "--log-format", "json")
	}
	argv = append(argv, cmd)
	return append(argv, args...)
}

// LastLogError returns the last error message in a runtime log written
// with --log-format json ("" if none).
func LastLogError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	last := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && (entry.Level == "error" || entry.Level == "fatal") {
			last = entry.Msg
		}
	}
	return last
}

// runtimeError formats a failed runtime command with its own words.
func runtimeError(cmd string, code int, stderr []byte, logMsg string) error {
	msg := strings.TrimSpace(logMsg)
	if msg == "" {
		msg = strings.TrimSpace(string(bytes.TrimSpace(stderr)))
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", code)
	}
	return fmt.Errorf("runtime %s failed: %s", cmd, msg)
}

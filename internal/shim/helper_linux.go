package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/berth-project/berth/internal/runtime"
)

// Main runs `berth shim HELPER ARGS`, the work berth-shim hands to Go: it
// returns the process's exit code.
//
//	berth shim create --root R --bundle B [--console-socket S] [--log L] ID
//
// creates the container with berth's runtime (a library call, no runtime
// process), reports "created PID" on fd 3, waits for "start" there, starts
// it and reports "started" (or "error MESSAGE" at either step) and exits.
// On EOF instead of "start" it deletes the container. A container of that
// ID left over from an earlier run is deleted first (restarts).
//
//	berth shim compress FILE
//
// gzips a rotated local-driver log FILE into FILE.gz and removes FILE.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: berth shim create|compress ...")
		return 2
	}
	switch args[0] {
	case "create":
		return createMain(args[1:])
	case "compress":
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: berth shim compress FILE")
			return 2
		}
		if err := compressFile(args[1]); err != nil {
			fmt.Fprintln(os.Stderr, "berth shim compress:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "berth shim: unknown helper %q\n", args[0])
	return 2
}

func createMain(args []string) int {
	fs := pflag.NewFlagSet("berth shim create", pflag.ContinueOnError)
	root := fs.String("root", "", "runtime state root")
	bundle := fs.String("bundle", "", "bundle directory")
	console := fs.String("console-socket", "", "socket the pty master is sent to")
	logPath := fs.String("log", "", "file for warnings (JSON lines)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *root == "" || *bundle == "" {
		fmt.Fprintln(os.Stderr, "usage: berth shim create --root R --bundle B [--console-socket S] [--log L] ID")
		return 2
	}
	id := fs.Arg(0)
	ctl := os.NewFile(3, "shim")
	if ctl == nil {
		fmt.Fprintln(os.Stderr, "berth shim create: no control fd")
		return 2
	}
	say := func(format string, a ...any) {
		msg := strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " ")
		fmt.Fprintln(ctl, msg)
	}
	rt := &runtime.Runtime{Root: *root, Warn: func(format string, a ...any) { logWarning(*logPath, fmt.Sprintf(format, a...)) }}
	if err := rt.Delete(id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
		say("error delete the previous run: %v", err)
		return 1
	}
	pidFile := filepath.Join(*bundle, "init.pid")
	if err := rt.Create(id, runtime.CreateOpts{Bundle: *bundle, ConsoleSocket: *console, PidFile: pidFile}); err != nil {
		say("error %v", err)
		return 1
	}
	b, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		_ = rt.Delete(id, true)
		say("error read pid file: %v", err)
		return 1
	}
	say("created %d", pid)
	line, err := bufio.NewReader(ctl).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "start" {
		_ = rt.Delete(id, true)
		return 1
	}
	if err := rt.Start(id); err != nil {
		_ = rt.Delete(id, true)
		say("error %v", err)
		return 1
	}
	say("started")
	return 0
}

func logWarning(path, msg string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(map[string]string{"level": "warning", "msg": msg, "time": time.Now().UTC().Format(time.RFC3339Nano)})
	f.Write(append(b, '\n'))
}

// compressFile writes path.gz (through a temp file) and removes path.
func compressFile(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".gz.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw := gzip.NewWriter(tmp)
	if _, err := io.Copy(zw, in); err != nil {
		tmp.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path+".gz"); err != nil {
		return err
	}
	return os.Remove(path)
}

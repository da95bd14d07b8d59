package containers

import (
	"bytes"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/shim"
)

func TestParseBind(t *testing.T) {
	dir := t.TempDir()
	mp, err := parseBind(dir + ":/data:ro")
	if err != nil || mp.Type != mount.TypeBind || mp.Source != dir || mp.Destination != "/data" || mp.RW {
		t.Fatalf("bind: %+v %v", mp, err)
	}
	mp, err = parseBind("cache:/var/cache")
	if err != nil || mp.Type != mount.TypeVolume || mp.Name != "cache" || !mp.RW {
		t.Fatalf("volume: %+v %v", mp, err)
	}
	for _, bad := range []string{"/a", "a:b:c:d", ":/x", dir + ":/x:bogus"} {
		if _, err := parseBind(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := parseMount(mount.Mount{Type: mount.TypeBind, Source: "/no/such/dir", Target: "/x"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("missing bind source: %v", err)
	}
	mp, err = parseMount(mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}})
	if err != nil || mp.Mode != "size=1048576,mode=700" {
		t.Fatalf("tmpfs: %+v %v", mp, err)
	}
}

func TestParseSecurityOpts(t *testing.T) {
	o, err := parseSecurityOpts([]string{"no-new-privileges", "seccomp=unconfined", "label=disable"})
	if err != nil || !o.noNewPrivileges || o.seccomp != "unconfined" {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = parseSecurityOpts([]string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`, "no-new-privileges:false"})
	if err != nil || o.noNewPrivileges || o.seccomp[0] != '{' {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"bogus"}, {"seccomp="}, {"seccomp=/not/json"}, {"no-new-privileges:maybe"}} {
		if _, err := parseSecurityOpts(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "SIGKILL": syscall.SIGKILL, "usr1": syscall.SIGUSR1, "9": syscall.SIGKILL} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseSignal("NOPE"); !errdefs.IsInvalidArgument(err) {
		t.Fatal(err)
	}
}

func TestParsePS(t *testing.T) {
	out := "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sh -c sleep 1\nroot 11 10 0 10:00 ? 00:00:00 other\n"
	resp, err := parsePS(out, []int{10})
	if err != nil || len(resp.Processes) != 1 || resp.Processes[0][7] != "sh -c sleep 1" {
		t.Fatalf("%+v %v", resp, err)
	}
}

func TestReadLogEntries(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, e := range []shim.LogEntry{
		{Log: "a\n", Stream: "stdout", Time: t0},
		{Log: "b\n", Stream: "stderr", Time: t0.Add(time.Second)},
		{Log: "c\n", Stream: "stdout", Time: t0.Add(2 * time.Second)},
	} {
		b, _ := json.Marshal(e)
		buf.Write(b)
		if i < 2 {
			buf.WriteByte('\n')
		}
	}
	er := newEntryReader(&buf, false)
	got := er.read(nil, LogsOptions{Stdout: true, Stderr: true})
	if len(got) != 2 {
		t.Fatalf("the partial last line must wait: %d entries", len(got))
	}
	buf.WriteString("\n")
	got = er.read(got, LogsOptions{Stdout: true, Stderr: true})
	if len(got) != 3 || got[2].Log != "c\n" {
		t.Fatalf("after the newline: %+v", got)
	}
	sel := newEntryReader(bytes.NewReader(mustJSONLines(t, got)), false).read(nil, LogsOptions{Stdout: true, Since: t0.Add(time.Second)})
	if len(sel) != 1 || sel[0].Log != "c\n" {
		t.Fatalf("stdout since 1s: %+v", sel)
	}
}

func mustJSONLines(t *testing.T, entries []shim.LogEntry) []byte {
	var buf bytes.Buffer
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(b, '\n'))
	}
	return buf.Bytes()
}

func TestValidateHostConfig(t *testing.T) {
	bad := []container.HostConfig{
		{AutoRemove: true, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways}},
		{RestartPolicy: container.RestartPolicy{Name: "sometimes"}},
		{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyAlways, MaximumRetryCount: 2}},
		{LogConfig: container.LogConfig{Type: "syslog"}},
		{Resources: container.Resources{Memory: 1024}},
		{NetworkMode: "container:"},
	}
	for i, hc := range bad {
		if err := validateHostConfig(&hc); !errdefs.IsInvalidArgument(err) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	ok := container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: 3}, NetworkMode: "host"}
	if err := validateHostConfig(&ok); err != nil {
		t.Fatal(err)
	}
}

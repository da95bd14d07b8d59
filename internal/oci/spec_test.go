package oci

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestDefaultSpec(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Process.Capabilities.Bounding, DefaultCapabilities) || slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Fatalf("caps: %v", s.Process.Capabilities.Bounding)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Process.Rlimits {
		if r.Hard > rl.Max || r.Soft > r.Hard {
			t.Fatalf("rlimit %+v above hard limit %d", r, rl.Max)
		}
	}
	want := []string{"/proc", "/dev", "/dev/pts", "/sys", "/dev/mqueue", "/dev/shm"}
	for _, w := range want {
		if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == w }) {
			t.Fatalf("no default mount %s", w)
		}
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Fatal("masked/readonly paths missing")
	}
}

func TestCapabilitiesAndPrivileged(t *testing.T) {
	s, err := New(WithCapabilities([]string{"NET_ADMIN"}, []string{"chown", "CAP_KILL"}))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Process.Capabilities.Bounding
	if !slices.Contains(b, "CAP_NET_ADMIN") || slices.Contains(b, "CAP_CHOWN") || slices.Contains(b, "CAP_KILL") {
		t.Fatalf("caps: %v", b)
	}
	s, _ = New(WithCapabilities(nil, []string{"ALL"}))
	if len(s.Process.Capabilities.Effective) != 0 {
		t.Fatalf("drop ALL: %v", s.Process.Capabilities.Effective)
	}
	s, _ = New(WithPrivileged(true))
	if len(s.Linux.MaskedPaths) != 0 || !slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
		t.Fatal("privileged keeps masks or lacks caps")
	}
}

func TestResources(t *testing.T) {
	pids := int64(20)
	s, err := New(WithResources(container.Resources{Memory: 64 << 20, NanoCPUs: 1500000000, PidsLimit: &pids, CPUShares: 512}))
	if err != nil {
		t.Fatal(err)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 {
		t.Fatalf("memory %+v", r.Memory)
	}
	if *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || *r.Pids.Limit != 20 {
		t.Fatalf("cpu %+v pids %+v", r.CPU, r.Pids)
	}
	if _, err := New(WithResources(container.Resources{Memory: 1 << 20})); err == nil {
		t.Fatal("1 MiB memory limit accepted")
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\naudio:x:29:app\n"), 0o644)
	cases := []struct {
		in   string
		uid  uint32
		gid  uint32
		home string
		add  []uint32
	}{
		{"", 0, 0, "/root", nil},
		{"app", 1000, 1000, "/home/app", []uint32{29}},
		{"1000", 1000, 1000, "/home/app", []uint32{29}},
		{"app:audio", 1000, 29, "/home/app", nil},
		{"4242", 4242, 4242, "/", nil},
		{"4242:7", 4242, 7, "/", nil},
	}
	for _, c := range cases {
		u, home, err := ResolveUser(root, c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if u.UID != c.uid || u.GID != c.gid || home != c.home || !slices.Equal(u.AdditionalGids, c.add) {
			t.Fatalf("%q: got %+v home %q", c.in, u, home)
		}
	}
	if _, _, err := ResolveUser(root, "nobody-here"); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	if !slices.Equal(got, []string{"PATH=/bin", "A=2", "B=3"}) {
		t.Fatalf("got %v", got)
	}
}

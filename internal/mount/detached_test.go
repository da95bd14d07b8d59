package mount

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// mountTableMentions reports whether /proc/self/mountinfo names dir.
func mountTableMentions(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), dir)
}

func TestDetached(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	tmp := t.TempDir()
	lower1, lower2, upper := filepath.Join(tmp, "l1"), filepath.Join(tmp, "l2"), filepath.Join(tmp, "u")
	for _, d := range []string{lower1, lower2, upper} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(lower2, "a"), []byte("from l2"), 0o644)
	os.WriteFile(filepath.Join(lower1, "a"), []byte("from l1"), 0o644)
	os.WriteFile(filepath.Join(lower2, "b"), []byte("b"), 0o644)
	for _, m := range []Mount{
		{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=" + lower1 + ":" + lower2}},
		{Type: "bind", Source: lower1, Options: []string{"ro", "rbind"}},
	} {
		t.Run(m.Type, func(t *testing.T) {
			f, err := Detached(m)
			if err != nil {
				t.Fatal(err)
			}
			root := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
			if b, err := os.ReadFile(filepath.Join(root, "a")); err != nil || string(b) != "from l1" {
				t.Errorf("read a: %q, %v", b, err)
			}
			if m.Type == "overlay" {
				if b, err := os.ReadFile(filepath.Join(root, "b")); err != nil || string(b) != "b" {
					t.Errorf("read b: %q, %v", b, err)
				}
			}
			if err := os.WriteFile(filepath.Join(root, "c"), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("write into a read-only detached mount: %v", err)
			}
			if mountTableMentions(t, lower1) {
				t.Errorf("a detached mount appears in the mount table")
			}
			f.Close()
		})
	}
}

// Package testbundle makes OCI bundles and root filesystems from the host's
// static busybox (Debian's busybox-static), for tests, benchmarks and the
// offline demo. Nothing is fetched from the network.
package testbundle

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Busybox returns the path of a static busybox binary on this host.
func Busybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		out, err := exec.Command("file", "-L", p).Output()
		if err == nil && !strings.Contains(string(out), "dynamically linked") {
			return p, nil
		}
		if err != nil {
			if _, serr := os.Stat(p); serr == nil {
				return p, nil // no file(1); trust busybox-static
			}
		}
	}
	return "", fmt.Errorf("no static busybox found: install Debian's busybox-static")
}

// Rootfs populates dir with a busybox root filesystem: /bin/busybox, one
// symlink per applet, /etc/passwd and /etc/group, and the usual empty
// directories.
func Rootfs(dir string) error {
	bb, err := Busybox()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(bb, filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		link := filepath.Join(dir, "bin", applet)
		if err := os.Symlink("busybox", link); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\ndaemon:x:1:\nkmem:x:15:\naudio:x:29:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1\tlocalhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Bundle makes an OCI bundle in dir (rootfs/ and config.json) whose process
// runs args. It returns the spec it wrote so callers can tweak and rewrite it
// with WriteSpec.
func Bundle(dir string, spec *specs.Spec) error {
	if err := Rootfs(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	return WriteSpec(dir, spec)
}

// WriteSpec writes spec as dir/config.json.
func WriteSpec(dir string, spec *specs.Spec) error {
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package runtime

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/runtime/specjson"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadSpec reads bundle/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("load bundle config: %w", err)
	}
	var s specs.Spec
	if err := specjson.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(bundle, "config.json"), err)
	}
	return &s, nil
}

// Validate checks what the runtime needs of a spec before it creates anything.
func Validate(s *specs.Spec) error {
	if s.Root == nil || s.Root.Path == "" {
		return fmt.Errorf("invalid spec: root.path is empty")
	}
	if s.Process == nil {
		return fmt.Errorf("invalid spec: process is missing")
	}
	if len(s.Process.Args) == 0 {
		return fmt.Errorf("invalid spec: process.args is empty")
	}
	if s.Process.Cwd == "" || !filepath.IsAbs(s.Process.Cwd) {
		return fmt.Errorf("invalid spec: process.cwd %q is not an absolute path", s.Process.Cwd)
	}
	if s.Linux == nil {
		return fmt.Errorf("invalid spec: linux section is missing")
	}
	if s.Process.ApparmorProfile != "" && !lsmEnabled("apparmor") {
		return fmt.Errorf("apparmor profile %q requested but AppArmor is not enabled in this kernel", s.Process.ApparmorProfile)
	}
	if s.Process.SelinuxLabel != "" && !lsmEnabled("selinux") {
		return fmt.Errorf("SELinux label %q requested but SELinux is not enabled in this kernel", s.Process.SelinuxLabel)
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if _, ok := namespaceFlags[ns.Type]; !ok {
			return fmt.Errorf("invalid spec: unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("invalid spec: namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
	}
	hasUserNS := seen[specs.UserNamespace]
	if !hasUserNS && (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) {
		return fmt.Errorf("invalid spec: uid/gid mappings need a user namespace")
	}
	for k := range s.Linux.Sysctl {
		if err := validateSysctl(k, seen); err != nil {
			return err
		}
	}
	return nil
}

func lsmEnabled(name string) bool {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		if name == "apparmor" {
			_, err := os.Stat("/sys/kernel/security/apparmor")
			return err == nil
		}
		_, err := os.Stat("/sys/fs/selinux/enforce")
		return err == nil
	}
	for _, l := range splitComma(string(b)) {
		if l == name {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' || s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// validateSysctl refuses sysctls that would change the host: only namespaced
// ones are allowed, and only when the container has the namespace.
func validateSysctl(key string, ns map[specs.LinuxNamespaceType]bool) error {
	ipcKeys := map[string]bool{"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true,
		"kernel.sem": true, "kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true}
	switch {
	case ipcKeys[key] || hasPrefix(key, "fs.mqueue."):
		if !ns[specs.IPCNamespace] {
			return fmt.Errorf("sysctl %q is not allowed: the container shares the host's IPC namespace", key)
		}
	case hasPrefix(key, "net."):
		if !ns[specs.NetworkNamespace] {
			return fmt.Errorf("sysctl %q is not allowed: the container shares the host's network namespace", key)
		}
	case key == "kernel.hostname" || key == "kernel.domainname":
		if !ns[specs.UTSNamespace] {
			return fmt.Errorf("sysctl %q is not allowed: the container shares the host's UTS namespace", key)
		}
	default:
		return fmt.Errorf("sysctl %q is not in a namespace the container owns", key)
	}
	return nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

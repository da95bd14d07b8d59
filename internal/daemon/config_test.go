package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	os.WriteFile(file, []byte(`{"insecure-registries": ["reg.lan:5000", "10.0.0.0/8"], "registry-mirrors": ["https://mirror.lan"], "log-level": "debug"}`), 0o644)
	cfg, err := parseFlags([]string{"--config-file", file, "--insecure-registry", "other:5000", "--registry-mirror", "http://127.0.0.1:5001"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.InsecureRegistries, ","); got != "other:5000,reg.lan:5000,10.0.0.0/8" {
		t.Errorf("insecure registries %q", got)
	}
	if got := strings.Join(cfg.RegistryMirrors, ","); got != "http://127.0.0.1:5001,https://mirror.lan" {
		t.Errorf("mirrors %q", got)
	}
	// A missing default file is fine; a missing named file or bad JSON is not.
	if _, err := parseFlags(nil); err != nil && !strings.Contains(err.Error(), DefaultConfigFile) {
		t.Fatalf("no config file: %v", err)
	}
	if _, err := parseFlags([]string{"--config-file", filepath.Join(dir, "absent.json")}); err == nil {
		t.Fatal("missing --config-file accepted")
	}
	os.WriteFile(file, []byte(`{"insecure-registries": "not a list"}`), 0o644)
	if _, err := parseFlags([]string{"--config-file", file}); err == nil {
		t.Fatal("bad config file accepted")
	}
}

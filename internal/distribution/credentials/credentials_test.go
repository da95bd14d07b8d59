package credentials

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/registry"
)

func TestConfigFileAuths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	// A config written by docker, with fields berth does not know.
	os.WriteFile(path, []byte(`{
	"auths": {
		"https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
		"http://old.example:5000/v1/": {"auth": "b2xkOnB3"}
	},
	"psFormat": "table {{.ID}}",
	"proxies": {"default": {"httpProxy": "http://p"}}
}`), 0o600)
	s := New(path)
	for server, want := range map[string]string{"docker.io": "hub:secret", IndexServer: "hub:secret", "old.example:5000": "old:pw", "other.example": ":"} {
		ac, err := s.Get(server)
		if err != nil {
			t.Fatal(err)
		}
		if got := ac.Username + ":" + ac.Password; got != want {
			t.Errorf("Get(%q) = %q, want %q", server, got, want)
		}
	}
	if err := s.Put(registry.AuthConfig{Username: "me", Password: "pw2", ServerAddress: "localhost:5000"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(registry.AuthConfig{Username: "hub2", Password: "s2", ServerAddress: "docker.io"}); err != nil {
		t.Fatal(err)
	}
	if ac, _ := s.Get("localhost:5000"); ac.Username != "me" || ac.Password != "pw2" {
		t.Fatalf("after Put: %+v", ac)
	}
	if ac, _ := s.Get("docker.io"); ac.Username != "hub2" {
		t.Fatalf("hub after Put: %+v", ac)
	}
	// Unknown fields survive; the file is private.
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "psFormat") || !strings.Contains(string(b), "httpProxy") {
		t.Fatalf("lost fields: %s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	found, err := s.Erase("localhost:5000")
	if err != nil || !found {
		t.Fatalf("erase: %v %v", found, err)
	}
	if ac, _ := s.Get("localhost:5000"); ac.Username != "" {
		t.Fatalf("after erase: %+v", ac)
	}
	if found, _ := s.Erase("never.example"); found {
		t.Fatal("erased something that was not there")
	}
	// A broken file is an error, not a silent empty config.
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := s.Get("docker.io"); err == nil {
		t.Fatal("broken config accepted")
	}
}

// TestCredentialHelpers runs the docker-credential-helpers protocol with a
// helper program on PATH that keeps its secrets in a file.
func TestCredentialHelpers(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "secrets")
	helper := `#!/bin/sh
store=` + store + `
case "$1" in
get)
    read -r server
    line=$(grep -F "$server	" "$store" 2>/dev/null | tail -1)
    if [ -z "$line" ]; then echo "credentials not found in native keychain"; exit 1; fi
    printf '%s' "$line" | cut -f2
    ;;
store)
    json=$(cat)
    server=$(printf '%s' "$json" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
    printf '%s\t%s\n' "$server" "$json" >> "$store"
    ;;
erase)
    read -r server
    grep -v -F "$server	" "$store" > "$store.new" 2>/dev/null; mv "$store.new" "$store"
    ;;
*) exit 2 ;;
esac
`
	for _, name := range []string{"docker-credential-berthtest", "docker-credential-other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(helper), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	path := filepath.Join(dir, "config.json")
	os.WriteFile(path, []byte(`{"credsStore": "berthtest", "credHelpers": {"special.example": "other"}}`), 0o600)
	s := New(path)
	if ac, err := s.Get("docker.io"); err != nil || ac.Username != "" {
		t.Fatalf("empty helper: %+v %v", ac, err)
	}
	if err := s.Put(registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "docker.io"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(registry.AuthConfig{IdentityToken: "tok", ServerAddress: "special.example"}); err != nil {
		t.Fatal(err)
	}
	if ac, err := s.Get("docker.io"); err != nil || ac.Username != "u" || ac.Password != "p" {
		t.Fatalf("helper get: %+v %v", ac, err)
	}
	if ac, err := s.Get("special.example"); err != nil || ac.IdentityToken != "tok" || ac.Username != "" {
		t.Fatalf("identity token via helper: %+v %v", ac, err)
	}
	// Secrets are in the helper, not in config.json.
	b, _ := os.ReadFile(path)
	var cfg struct{ Auths map[string]map[string]string }
	json.Unmarshal(b, &cfg)
	if _, ok := cfg.Auths[IndexServer]; !ok || strings.Contains(string(b), `"p"`) || strings.Contains(string(b), "tok") {
		t.Fatalf("config.json: %s", b)
	}
	if found, err := s.Erase("docker.io"); err != nil || !found {
		t.Fatalf("erase: %v %v", found, err)
	}
	if ac, _ := s.Get("docker.io"); ac.Username != "" {
		t.Fatalf("after erase: %+v", ac)
	}
	// A helper that is not installed is a clear error.
	os.WriteFile(path, []byte(`{"credsStore": "absent-helper"}`), 0o600)
	if _, err := s.Get("docker.io"); err == nil || !strings.Contains(err.Error(), "docker-credential-absent-helper") {
		t.Fatalf("missing helper: %v", err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	ac := registry.AuthConfig{Username: "u", Password: "p:w", ServerAddress: "localhost:5000"}
	h, err := EncodeHeader(ac)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeHeader(h)
	if err != nil || got != ac {
		t.Fatalf("round trip %+v %v", got, err)
	}
	if got, err := DecodeHeader(""); err != nil || got != (registry.AuthConfig{}) {
		t.Fatalf("empty %+v %v", got, err)
	}
	if _, err := DecodeHeader("!!!"); err == nil {
		t.Fatal("garbage accepted")
	}
}

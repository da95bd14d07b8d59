// Package credentials reads and writes registry credentials the way the
// docker CLI does: in config.json ($DOCKER_CONFIG/config.json or
// ~/.docker/config.json) under "auths", or through credential helpers
// (docker-credential-<name>) named by "credsStore" and "credHelpers".
package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/moby/api/types/registry"
)

// IndexServer is the key Docker Hub credentials are stored under.
const IndexServer = "https://index.docker.io/v1/"

// tokenUsername is what credential helpers return as the user name of an
// identity token.
const tokenUsername = "<token>"

// Store is a docker config.json and the helpers it names.
type Store struct {
	path string
}

// DefaultPath is $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func DefaultPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".docker", "config.json")
}

// New returns the store of the config file at path (it need not exist).
func New(path string) *Store { return &Store{path: path} }

// Default returns the store at DefaultPath.
func Default() *Store { return New(DefaultPath()) }

// Path is the config file's path.
func (s *Store) Path() string { return s.path }

// ServerKey is the config key of a registry domain: Docker Hub's
// historical index URL for docker.io, the host[:port] for others.
func ServerKey(domain string) string {
	switch domain {
	case "docker.io", "index.docker.io", "registry-1.docker.io", IndexServer:
		return IndexServer
	}
	return hostOf(domain)
}

// hostOf strips a scheme and path from a config key ("https://h:5000/v1/" → "h:5000").
func hostOf(key string) string {
	k := key
	if i := strings.Index(k, "://"); i >= 0 {
		k = k[i+3:]
	}
	if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	return k
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// file is config.json: the fields berth uses, and all others kept as they are.
type file struct {
	raw         map[string]json.RawMessage
	Auths       map[string]authEntry
	CredsStore  string
	CredHelpers map[string]string
}

func (s *Store) load() (*file, error) {
	f := &file{raw: map[string]json.RawMessage{}, Auths: map[string]authEntry{}, CredHelpers: map[string]string{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(b, &f.raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", s.path, err)
	}
	for key, dst := range map[string]any{"auths": &f.Auths, "credsStore": &f.CredsStore, "credHelpers": &f.CredHelpers} {
		if v, ok := f.raw[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("parse %s: %q: %w", s.path, key, err)
			}
		}
	}
	if f.Auths == nil {
		f.Auths = map[string]authEntry{}
	}
	return f, nil
}

func (s *Store) save(f *file) error {
	b, err := json.Marshal(f.Auths)
	if err != nil {
		return err
	}
	f.raw["auths"] = b
	out, err := json.MarshalIndent(f.raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".config.json.tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// helperFor names the credential helper for a server key ("" if none).
func (f *file) helperFor(key string) string {
	if h, ok := f.CredHelpers[key]; ok {
		return h
	}
	if h, ok := f.CredHelpers[hostOf(key)]; ok {
		return h
	}
	return f.CredsStore
}

// findEntry looks key up in auths, also under the URL forms docker writes.
func (f *file) findEntry(key string) (string, authEntry, bool) {
	if e, ok := f.Auths[key]; ok {
		return key, e, true
	}
	host := hostOf(key)
	for k, e := range f.Auths {
		if hostOf(k) == host {
			return k, e, true
		}
	}
	return "", authEntry{}, false
}

// Helper names the credential helper that keeps a registry's credentials
// ("" when they go into config.json itself).
func (s *Store) Helper(server string) (string, error) {
	f, err := s.load()
	if err != nil {
		return "", err
	}
	return f.helperFor(ServerKey(server)), nil
}

// Get returns the credentials stored for a registry (a domain such as
// "docker.io" or "localhost:5000", or a config key). It returns an empty
// AuthConfig when there are none.
func (s *Store) Get(server string) (registry.AuthConfig, error) {
	key := ServerKey(server)
	f, err := s.load()
	if err != nil {
		return registry.AuthConfig{}, err
	}
	if h := f.helperFor(key); h != "" {
		return helperGet(h, key)
	}
	_, e, ok := f.findEntry(key)
	if !ok {
		return registry.AuthConfig{ServerAddress: key}, nil
	}
	ac := registry.AuthConfig{Username: e.Username, Password: e.Password, ServerAddress: key,
		IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if e.Auth != "" {
		dec, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return registry.AuthConfig{}, fmt.Errorf("%s: auths[%q]: invalid auth field: %w", s.path, key, err)
		}
		user, pass, ok := strings.Cut(string(dec), ":")
		if !ok {
			return registry.AuthConfig{}, fmt.Errorf("%s: auths[%q]: auth field is not user:password", s.path, key)
		}
		ac.Username, ac.Password = user, pass
	}
	return ac, nil
}

// Put stores credentials for ac.ServerAddress, through the helper if the
// config names one.
func (s *Store) Put(ac registry.AuthConfig) error {
	key := ServerKey(ac.ServerAddress)
	f, err := s.load()
	if err != nil {
		return err
	}
	if h := f.helperFor(key); h != "" {
		user, secret := ac.Username, ac.Password
		if ac.IdentityToken != "" {
			user, secret = tokenUsername, ac.IdentityToken
		}
		if err := helperStore(h, key, user, secret); err != nil {
			return err
		}
		f.Auths[key] = authEntry{}
		return s.save(f)
	}
	e := authEntry{IdentityToken: ac.IdentityToken}
	if ac.IdentityToken == "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))
	} else {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":"))
	}
	if old, _, ok := f.findEntry(key); ok && old != key {
		delete(f.Auths, old)
	}
	f.Auths[key] = e
	return s.save(f)
}

// Erase removes the credentials of a registry. It reports whether there
// were any in the file.
func (s *Store) Erase(server string) (bool, error) {
	key := ServerKey(server)
	f, err := s.load()
	if err != nil {
		return false, err
	}
	found := false
	if h := f.helperFor(key); h != "" {
		if err := helperErase(h, key); err != nil {
			return false, err
		}
		found = true
	}
	if k, _, ok := f.findEntry(key); ok {
		delete(f.Auths, k)
		found = true
		if err := s.save(f); err != nil {
			return found, err
		}
	}
	return found, nil
}

// helperNotFound is the helpers' answer for a server without credentials.
const helperNotFound = "credentials not found in native keychain"

func runHelper(helper, action string, input []byte) ([]byte, error) {
	prog := "docker-credential-" + helper
	cmd := exec.Command(prog, action)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if strings.Contains(msg, helperNotFound) {
			return nil, errNoCredentials
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("credential helper %s: %w", prog, err)
		}
		return nil, fmt.Errorf("credential helper %s %s: %w: %s", prog, action, err, msg)
	}
	return stdout.Bytes(), nil
}

var errNoCredentials = errors.New(helperNotFound)

type helperCreds struct {
	ServerURL string `json:"ServerURL"`
	Username  string `json:"Username"`
	Secret    string `json:"Secret"`
}

func helperGet(helper, key string) (registry.AuthConfig, error) {
	out, err := runHelper(helper, "get", []byte(key))
	if errors.Is(err, errNoCredentials) {
		return registry.AuthConfig{ServerAddress: key}, nil
	}
	if err != nil {
		return registry.AuthConfig{}, err
	}
	var c helperCreds
	if err := json.Unmarshal(out, &c); err != nil {
		return registry.AuthConfig{}, fmt.Errorf("credential helper docker-credential-%s: bad answer: %w", helper, err)
	}
	if c.Username == tokenUsername {
		return registry.AuthConfig{ServerAddress: key, IdentityToken: c.Secret}, nil
	}
	return registry.AuthConfig{ServerAddress: key, Username: c.Username, Password: c.Secret}, nil
}

func helperStore(helper, key, user, secret string) error {
	in, _ := json.Marshal(helperCreds{ServerURL: key, Username: user, Secret: secret})
	_, err := runHelper(helper, "store", in)
	return err
}

func helperErase(helper, key string) error {
	_, err := runHelper(helper, "erase", []byte(key))
	if errors.Is(err, errNoCredentials) {
		return nil
	}
	return err
}

// EncodeHeader encodes credentials for the X-Registry-Auth header
// (base64url of their JSON), as the docker CLI sends them.
func EncodeHeader(ac registry.AuthConfig) (string, error) {
	b, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// DecodeHeader decodes an X-Registry-Auth header; an empty header gives
// empty credentials.
func DecodeHeader(h string) (registry.AuthConfig, error) {
	var ac registry.AuthConfig
	if h == "" {
		return ac, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		// Some clients pad or use the standard alphabet.
		if b, err = base64.StdEncoding.DecodeString(h); err != nil {
			if b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "=")); err != nil {
				return ac, fmt.Errorf("invalid X-Registry-Auth header: %w", err)
			}
		}
	}
	if err := json.Unmarshal(b, &ac); err != nil {
		return ac, fmt.Errorf("invalid X-Registry-Auth header: %w", err)
	}
	if ac.Auth != "" && ac.Username == "" {
		if dec, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
			ac.Username, ac.Password, _ = strings.Cut(string(dec), ":")
		}
	}
	return ac, nil
}

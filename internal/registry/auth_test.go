package registry

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func writeHtpasswd(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHtpasswdAuth(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	users, err := LoadHtpasswd(writeHtpasswd(t, "# users", "alice:"+string(hash)))
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestRegistry(t, Options{Users: users})
	r := tr.do("GET", "/v2/", nil)
	tr.expect(r, http.StatusUnauthorized, CodeUnauthorized)
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	tr.user, tr.pass = "alice", "wrong"
	tr.expect(tr.do("GET", "/v2/", nil), http.StatusUnauthorized, CodeUnauthorized)
	tr.user, tr.pass = "bob", "right"
	tr.expect(tr.do("GET", "/v2/", nil), http.StatusUnauthorized, CodeUnauthorized)
	tr.user, tr.pass = "alice", "right"
	tr.expect(tr.do("GET", "/v2/", nil), http.StatusOK, "")
	tr.pushImage("app", "v1", []byte("layer"))
	tr.expect(tr.do("GET", "/v2/app/manifests/v1", nil), http.StatusOK, "")
	// The cached verification does not let another password in.
	tr.pass = "right2"
	tr.expect(tr.do("GET", "/v2/app/manifests/v1", nil), http.StatusUnauthorized, CodeUnauthorized)
}

func TestHtpasswdRefusesWeakHashes(t *testing.T) {
	for _, line := range []string{"alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "alice:$apr1$abc$def", "alice:plain", "nocolon", ""} {
		if _, err := LoadHtpasswd(writeHtpasswd(t, line)); err == nil {
			t.Errorf("htpasswd line %q accepted", line)
		}
	}
	if _, err := LoadHtpasswd(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("missing file accepted")
	}
}

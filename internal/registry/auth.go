package registry

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Htpasswd is a set of users from an Apache htpasswd file. Only bcrypt
// entries ($2y$, $2a$, $2b$; `htpasswd -B`) are accepted, as CNCF
// distribution does.
type Htpasswd struct {
	users map[string][]byte

	mu sync.Mutex
	// ok caches the SHA-256 of the last password verified for a user, so
	// that bcrypt (tens of milliseconds by design) runs once per client,
	// not once per request.
	ok map[string][32]byte
}

// LoadHtpasswd reads an htpasswd file.
func LoadHtpasswd(path string) (*Htpasswd, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	defer f.Close()
	h := &Htpasswd{users: map[string][]byte{}, ok: map[string][32]byte{}}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, hash, ok := strings.Cut(t, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("htpasswd %s:%d: expected user:hash", path, line)
		}
		if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
			return nil, fmt.Errorf("htpasswd %s:%d: user %q: only bcrypt hashes are supported (htpasswd -B)", path, line, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("htpasswd %s:%d: user %q: %w", path, line, user, err)
		}
		h.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd %s: %w", path, err)
	}
	if len(h.users) == 0 {
		return nil, fmt.Errorf("htpasswd %s: no users", path)
	}
	return h, nil
}

// Verify reports whether password is user's.
func (h *Htpasswd) Verify(user, password string) bool {
	hash, ok := h.users[user]
	if !ok {
		// Spend the same time as for a known user.
		bcrypt.CompareHashAndPassword([]byte("$2y$10$0000000000000000000000000000000000000000000000000000."), []byte(password))
		return false
	}
	sum := sha256.Sum256([]byte(password))
	h.mu.Lock()
	cached, hit := h.ok[user]
	h.mu.Unlock()
	if hit && subtle.ConstantTimeCompare(cached[:], sum[:]) == 1 {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	h.mu.Lock()
	h.ok[user] = sum
	h.mu.Unlock()
	return true
}

func (h *Htpasswd) authenticate(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	return ok && h.Verify(user, pass)
}

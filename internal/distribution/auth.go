package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/registry"
)

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "bearer"
	params map[string]string
}

// parseChallenges parses WWW-Authenticate headers (RFC 7235: a scheme and
// comma-separated key="value" parameters).
func parseChallenges(h http.Header) []challenge {
	var out []challenge
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		c := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
		for rest = strings.TrimSpace(rest); rest != ""; {
			key, after, ok := strings.Cut(rest, "=")
			if !ok {
				break
			}
			key = strings.ToLower(strings.TrimSpace(key))
			after = strings.TrimSpace(after)
			var val string
			if strings.HasPrefix(after, `"`) {
				// quoted-string with backslash escapes
				var b strings.Builder
				i := 1
				for ; i < len(after) && after[i] != '"'; i++ {
					if after[i] == '\\' && i+1 < len(after) {
						i++
					}
					b.WriteByte(after[i])
				}
				val = b.String()
				after = after[min(i+1, len(after)):]
			} else {
				end := strings.IndexByte(after, ',')
				if end < 0 {
					end = len(after)
				}
				val = strings.TrimSpace(after[:end])
				after = after[end:]
			}
			c.params[key] = val
			rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(after), ","))
		}
		out = append(out, c)
	}
	return out
}

// authorizer authenticates the requests to one registry host: it learns
// the host's challenge from a 401 and then answers it up front, with basic
// credentials or with bearer tokens fetched per scope and cached until
// they expire.
type authorizer struct {
	creds     registry.AuthConfig
	userAgent string
	client    *http.Client

	mu     sync.Mutex
	chal   *challenge
	tokens map[string]token // by sorted scope list
}

type token struct {
	value   string
	expires time.Time
}

func newAuthorizer(creds registry.AuthConfig, client *http.Client, userAgent string) *authorizer {
	return &authorizer{creds: creds, client: client, userAgent: userAgent, tokens: map[string]token{}}
}

func (a *authorizer) hasCredentials() bool {
	return a.creds.Username != "" || a.creds.IdentityToken != "" || a.creds.RegistryToken != ""
}

func scopeKey(scopes []string) string {
	s := append([]string(nil), scopes...)
	sort.Strings(s)
	return strings.Join(s, " ")
}

// authorize sets the Authorization header if the host's challenge is known.
func (a *authorizer) authorize(ctx context.Context, req *http.Request, scopes []string) error {
	a.mu.Lock()
	c := a.chal
	a.mu.Unlock()
	if c == nil {
		return nil
	}
	if a.creds.RegistryToken != "" {
		req.Header.Set("Authorization", "Bearer "+a.creds.RegistryToken)
		return nil
	}
	switch c.scheme {
	case "basic":
		if a.creds.Username != "" {
			req.SetBasicAuth(a.creds.Username, a.creds.Password)
		}
	case "bearer":
		tok, err := a.token(ctx, *c, scopes)
		if err != nil {
			return err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	return nil
}

// learn records the challenge of a 401 response. It reports whether the
// request is worth retrying (the challenge is new or asks for a scope the
// cached token lacks).
func (a *authorizer) learn(resp *http.Response, scopes []string) bool {
	for _, c := range parseChallenges(resp.Header) {
		if c.scheme != "basic" && c.scheme != "bearer" {
			continue
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		first := a.chal == nil
		a.chal = &c
		if c.scheme == "bearer" {
			// The token we sent did not do: forget it.
			delete(a.tokens, scopeKey(scopes))
			if s := c.params["scope"]; s != "" && !contains(scopes, s) {
				return true
			}
		}
		return first
	}
	return false
}

// canAnswer reports whether a challenge is known that credentials (or an
// anonymous token) can answer.
func (a *authorizer) canAnswer() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chal == nil {
		return false
	}
	return a.chal.scheme == "bearer" || a.hasCredentials()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
}

// token fetches (or returns the cached) bearer token for scopes: with an
// identity token by OAuth2 refresh (POST), otherwise by GET with basic
// credentials if there are any (Docker Hub's token flow).
func (a *authorizer) token(ctx context.Context, c challenge, scopes []string) (string, error) {
	key := scopeKey(scopes)
	a.mu.Lock()
	if t, ok := a.tokens[key]; ok && time.Now().Before(t.expires) {
		a.mu.Unlock()
		return t.value, nil
	}
	a.mu.Unlock()
	realm := c.params["realm"]
	if realm == "" {
		return "", fmt.Errorf("bearer challenge without realm")
	}
	ru, err := url.Parse(realm)
	if err != nil || (ru.Scheme != "https" && ru.Scheme != "http") {
		return "", fmt.Errorf("bearer challenge with invalid realm %q", realm)
	}
	service := c.params["service"]
	var req *http.Request
	if a.creds.IdentityToken != "" {
		form := url.Values{}
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", a.creds.IdentityToken)
		form.Set("service", service)
		form.Set("client_id", "berth")
		form.Set("scope", strings.Join(scopes, " "))
		req, err = http.NewRequestWithContext(ctx, "POST", realm, strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := ru.Query()
		if service != "" {
			q.Set("service", service)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		if a.creds.Username != "" {
			q.Set("account", a.creds.Username)
		}
		ru.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, "GET", ru.String(), nil)
		if err != nil {
			return "", err
		}
		if a.creds.Username != "" {
			req.SetBasicAuth(a.creds.Username, a.creds.Password)
		}
	}
	req.Header.Set("User-Agent", a.userAgent)
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch token from %s: %w", ru.Host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", &Error{Status: resp.StatusCode, Code: "UNAUTHORIZED", Message: "incorrect username or password"}
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch token from %s: %s: %s", ru.Host, resp.Status, strings.TrimSpace(string(body)))
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return "", fmt.Errorf("fetch token from %s: %w", ru.Host, err)
	}
	tok := tr.Token
	if tok == "" {
		tok = tr.AccessToken
	}
	if tok == "" {
		return "", fmt.Errorf("fetch token from %s: empty token", ru.Host)
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life < time.Minute {
		life = time.Minute // the spec's default lifetime
	}
	a.mu.Lock()
	a.tokens[key] = token{value: tok, expires: time.Now().Add(life - 10*time.Second)}
	a.mu.Unlock()
	return tok, nil
}

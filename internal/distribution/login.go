package distribution

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/moby/moby/api/types/registry"

	"github.com/berth-project/berth/internal/errdefs"
)

// Login checks creds against the registry of domain (docker.io for Docker
// Hub): it asks for /v2/ and answers the registry's challenge (basic, or a
// bearer token fetched with the credentials). It returns nil when the
// registry accepts them, or needs none.
func (c *Client) Login(ctx context.Context, domain string, creds registry.AuthConfig) error {
	eps, err := c.hosts.endpoints(domain)
	if err != nil {
		return err
	}
	var ep *endpoint
	for _, e := range eps {
		if !e.mirror {
			ep = e
		}
	}
	// A fresh authorizer: a cached token must not vouch for new credentials.
	a := newAuthorizer(creds, ep.client, c.opts.UserAgent)
	for attempt := 0; attempt < 3; attempt++ {
		url := ep.base() + "/v2/"
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", c.opts.UserAgent)
		if err := a.authorize(ctx, req, nil); err != nil {
			var re *Error
			if errors.As(err, &re) && re.Status == http.StatusUnauthorized {
				return errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: 401 Unauthorized", url))
			}
			return err
		}
		resp, err := ep.client.Do(req)
		if err != nil {
			if ep.insecure && ep.getScheme() == "https" && notTLS(err) {
				ep.setScheme("http")
				continue
			}
			return errdefs.Unavailable(fmt.Errorf("login to %s: %w", ep.host, err))
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			return nil
		case resp.StatusCode == http.StatusUnauthorized && req.Header.Get("Authorization") == "":
			if !a.learn(resp, nil) && !a.canAnswer() {
				return errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: %s", url, resp.Status))
			}
			if !a.hasCredentials() {
				return errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: %s", url, resp.Status))
			}
			continue
		default:
			return errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: %s", url, resp.Status))
		}
	}
	return errdefs.Unauthorized(fmt.Errorf("login to %s: too many attempts", ep.host))
}

// Package reference parses and normalises image references the way Docker
// does (busybox = docker.io/library/busybox:latest), on top of
// github.com/distribution/reference, and recognises image IDs.
package reference

import (
	"errors"
	"fmt"
	"strings"

	dref "github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-project/berth/internal/errdefs"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errdefs.InvalidArgument(errors.New("invalid reference format"))

// Named is a normalised reference: docker.io/library/busybox:latest,
// localhost:5000/x:y, quay.io/a/b@sha256:....
type Named = dref.Named

// Parse normalises s: it adds the docker.io domain, the library/ path for
// official images and the latest tag when neither tag nor digest is given.
// A tag and a digest may both be present (name:tag@sha256:...).
func Parse(s string) (Named, error) {
	named, err := ParseNamed(s)
	if err != nil {
		return nil, err
	}
	return dref.TagNameOnly(named), nil
}

// ParseNamed normalises s without adding a default tag.
func ParseNamed(s string) (Named, error) {
	named, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v: %w", s, err, ErrInvalid)
	}
	return named, nil
}

// Normalize returns the normalised string of s (Parse(s).String()).
func Normalize(s string) (string, error) {
	n, err := Parse(s)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// Familiar shortens a normalised reference for display
// (docker.io/library/busybox:latest -> busybox:latest). Strings that do not
// parse are returned unchanged.
func Familiar(s string) string {
	n, err := dref.ParseNormalizedNamed(s)
	if err != nil {
		return s
	}
	return dref.FamiliarString(n)
}

// FamiliarName returns the repository part for display (busybox, a/b,
// localhost:5000/x).
func FamiliarName(n Named) string { return dref.FamiliarName(n) }

// Repository returns the full repository name (docker.io/library/busybox).
func Repository(n Named) string { return n.Name() }

// Tag returns n's tag or "".
func Tag(n Named) string {
	if t, ok := n.(dref.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// Digest returns n's digest or "".
func Digest(n Named) digest.Digest {
	if d, ok := n.(dref.Digested); ok {
		return d.Digest()
	}
	return ""
}

// WithTag returns repo:tag for a normalised repository.
func WithTag(n Named, tag string) (Named, error) {
	t, err := dref.WithTag(dref.TrimNamed(n), tag)
	if err != nil {
		return nil, fmt.Errorf("tag %q: %v: %w", tag, err, ErrInvalid)
	}
	return t, nil
}

// WithDigest returns repo@digest for a normalised repository.
func WithDigest(n Named, d digest.Digest) (Named, error) {
	c, err := dref.WithDigest(dref.TrimNamed(n), d)
	if err != nil {
		return nil, fmt.Errorf("digest %q: %v: %w", d, err, ErrInvalid)
	}
	return c, nil
}

// Domain returns the registry host of n (docker.io, localhost:5000).
func Domain(n Named) string { return dref.Domain(n) }

// Path returns the repository path within the registry (library/busybox).
func Path(n Named) string { return dref.Path(n) }

// ParseID recognises an image ID or ID prefix as Docker accepts them:
// "sha256:<hex>", "<64 hex>" or a hex prefix. It returns the hex part and
// whether it is complete (64 characters). It is ^(sha256:)?[a-f0-9]{1,64}$
// (case-insensitive) without a regexp, whose compilation every start of
// the binary would pay.
func ParseID(s string) (hex string, full bool, ok bool) {
	s = strings.ToLower(s)
	hex = strings.TrimPrefix(s, "sha256:")
	if len(hex) == 0 || len(hex) > 64 {
		return "", false, false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false, false
		}
	}
	return hex, len(hex) == 64, true
}

// Match reports whether the normalised reference ref matches a Docker
// filter pattern such as "busybox", "busy*" or "localhost:5000/x:*".
func Match(pattern, ref string) bool {
	n, err := dref.ParseNormalizedNamed(ref)
	if err != nil {
		return false
	}
	ok, err := dref.FamiliarMatch(pattern, n)
	if err == nil && ok {
		return true
	}
	ok, err = dref.FamiliarMatch(pattern, dref.TrimNamed(n))
	return err == nil && ok
}

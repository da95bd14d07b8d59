package images

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image"
)

// putDigest records repo@<target digest> for the image named by name, as
// a pull or push does, and returns the digest reference.
func putDigest(t *testing.T, s *Service, name, repo string) string {
	t.Helper()
	img, err := s.store.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	ref := repo + "@" + img.Target.Digest.String()
	if _, err := s.store.Put(context.Background(), image.Image{Name: ref, Target: img.Target}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// deleted lists a delete response as "untagged X" and "deleted Y" lines,
// the image's own entries only (not its layers).
func deleted(res []imagetypes.DeleteResponse, id string) []string {
	var out []string
	for _, r := range res {
		switch {
		case r.Untagged != "":
			out = append(out, "untagged "+r.Untagged)
		case r.Deleted == id:
			out = append(out, "deleted")
		}
	}
	return out
}

// TestDigestReferences: Docker's rules for digest references (what a pull
// by digest leaves): listed and inspected as RepoDigests with no tag,
// dangling for the filter and for prune, removed by digest, and removed
// together with the last tag of their repository.
func TestDigestReferences(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

	// An image pulled by digest only: no tag, one digest reference.
	id := importImage(t, s, "tmp:1", "a", nil, t0)
	dref := putDigest(t, s, "tmp:1", "reg.example:5000/app")
	if err := s.store.Delete(ctx, "tmp:1"); err != nil {
		t.Fatal(err)
	}
	check := func(when string, wantTags, wantDigests []string) {
		t.Helper()
		info, err := s.Inspect(ctx, id)
		if err != nil {
			t.Fatalf("%s: inspect: %v", when, err)
		}
		if !reflect.DeepEqual(info.RepoTags, wantTags) || !reflect.DeepEqual(info.RepoDigests, wantDigests) {
			t.Fatalf("%s: inspect RepoTags %q RepoDigests %q, want %q %q", when, info.RepoTags, info.RepoDigests, wantTags, wantDigests)
		}
		list, err := s.List(ctx, ListOptions{})
		if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0].RepoTags, wantTags) || !reflect.DeepEqual(list[0].RepoDigests, wantDigests) {
			t.Fatalf("%s: list %+v %v", when, list, err)
		}
	}
	check("pulled by digest", []string{}, []string{dref})
	if info, err := s.Inspect(ctx, dref); err != nil || info.ID != id {
		t.Fatalf("inspect by digest reference: %v", err)
	}
	// A tag next to the digest is ignored in look-ups, as in Docker.
	if info, err := s.Inspect(ctx, "reg.example:5000/app:whatever@"+dref[len("reg.example:5000/app@"):]); err != nil || info.ID != id {
		t.Fatalf("inspect by name:tag@digest: %v", err)
	}
	// Only a recorded digest reference names the image: not another
	// repository, not the tag's repository with an unrecorded digest.
	if _, err := s.Inspect(ctx, "reg.example:5000/other@"+dref[len("reg.example:5000/app@"):]); !errdefs.IsNotFound(err) {
		t.Fatalf("digest of another repository: %v", err)
	}
	for _, f := range []string{"true", "false"} {
		if n := listNames(t, s, map[string][]string{"dangling": {f}}); len(n) != 1 || n[0] != "<none>" {
			t.Fatalf("dangling=%s: %v (Docker lists an image with only a digest in both)", f, n)
		}
	}
	if n := listNames(t, s, map[string][]string{"reference": {"reg.example:5000/app"}}); len(n) != 1 {
		t.Fatalf("reference filter by the repository of a digest: %v", n)
	}

	// Tagged as well (docker tag, or a pull by tag): not dangling.
	if err := s.Tag(ctx, dref, "reg.example:5000/app", "1"); err != nil {
		t.Fatal(err)
	}
	check("tagged", []string{"reg.example:5000/app:1"}, []string{dref})
	if n := listNames(t, s, map[string][]string{"dangling": {"true"}}); len(n) != 0 {
		t.Fatalf("dangling=true lists a tagged image: %v", n)
	}
	if rep, err := s.Prune(ctx, nil); err != nil || len(rep.ImagesDeleted) != 0 {
		t.Fatalf("prune removed a tagged image: %+v %v", rep, err)
	}
	// rmi by digest reference takes only that name.
	res, err := s.Remove(ctx, dref, RemoveOptions{})
	if got := deleted(res, id); err != nil || fmt.Sprint(got) != "[untagged "+dref+"]" {
		t.Fatalf("rmi by digest: %v %v", got, err)
	}
	check("digest removed", []string{"reg.example:5000/app:1"}, []string{})

	// rmi of the last tag of a repository takes its digest references along
	// and deletes the image.
	putDigest(t, s, "reg.example:5000/app:1", "reg.example:5000/app")
	res, err = s.Remove(ctx, "reg.example:5000/app:1", RemoveOptions{})
	if got := deleted(res, id); err != nil || fmt.Sprint(got) != "[untagged reg.example:5000/app:1 untagged "+dref+" deleted]" {
		t.Fatalf("rmi of the last tag: %v %v", got, err)
	}
	if _, err := s.Inspect(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("image still there: %v", err)
	}

	// Another repository's tag leaves the digest reference alone.
	id = importImage(t, s, "reg.example:5000/app:1", "a", nil, t0)
	putDigest(t, s, "reg.example:5000/app:1", "reg.example:5000/app")
	if err := s.Tag(ctx, id, "other/x", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "reg.example:5000/app:1", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	check("other repository tagged", []string{"other/x:2"}, []string{})
	putDigest(t, s, "other/x:2", "reg.example:5000/app")
	// By ID: names in two repositories need -f.
	if _, err := s.Remove(ctx, id, RemoveOptions{}); !errdefs.IsConflict(err) {
		t.Fatalf("rmi ID with names in two repositories: %v", err)
	}
	res, err = s.Remove(ctx, "other/x:2", RemoveOptions{})
	if got := deleted(res, id); err != nil || fmt.Sprint(got) != "[untagged other/x:2]" {
		t.Fatalf("rmi of a tag of another repository: %v %v", got, err)
	}
	check("digest only again", []string{}, []string{dref})

	// prune without -a removes an image that has a digest but no tag.
	rep, err := s.Prune(ctx, nil)
	if got := deleted(rep.ImagesDeleted, id); err != nil || fmt.Sprint(got) != "[untagged "+dref+" deleted]" {
		t.Fatalf("prune of a digest-only image: %v %v", got, err)
	}
	if _, err := s.Inspect(ctx, dref); !errdefs.IsNotFound(err) {
		t.Fatalf("pruned image still there: %v", err)
	}

	// By ID: one repository with a tag and a digest goes with both names.
	id = importImage(t, s, "reg.example:5000/app:1", "a", nil, t0)
	putDigest(t, s, "reg.example:5000/app:1", "reg.example:5000/app")
	res, err = s.Remove(ctx, id[:19], RemoveOptions{})
	if got := deleted(res, id); err != nil || fmt.Sprint(got) != "[untagged reg.example:5000/app:1 untagged "+dref+" deleted]" {
		t.Fatalf("rmi by ID: %v %v", got, err)
	}
}

func TestIsSingleReference(t *testing.T) {
	const d = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	rec := func(names ...string) []image.Image {
		var out []image.Image
		for _, n := range names {
			out = append(out, image.Image{Name: n})
		}
		return out
	}
	for _, c := range []struct {
		refs []image.Image
		want bool
	}{
		{nil, false},
		{rec("docker.io/library/a:1"), true},
		{rec("docker.io/library/a" + d), true},
		{rec("docker.io/library/a:1", "docker.io/library/a"+d), true},
		{rec("docker.io/library/a:1", "docker.io/library/a:2"), false},
		{rec("docker.io/library/a:1", "docker.io/library/b"+d), false},
		{rec("docker.io/library/a"+d, "docker.io/library/b"+d), false},
	} {
		if got := isSingleReference(c.refs); got != c.want {
			t.Errorf("isSingleReference(%v) = %v", c.refs, got)
		}
	}
}

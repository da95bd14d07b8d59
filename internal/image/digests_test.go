package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestDigestRecords: a digest reference (repo@sha256:..., what a pull or
// push records) is a RepoDigest, never a RepoTag; name:tag@digest looks up
// the digest; an image with a digest but no tag is dangling for prune; an
// archive carries tags only, so a save/load round trip keeps no digest
// (as docker save/load).
func TestDigestRecords(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	a, b := twoImages(t)
	loadBytes(t, s, dockerArchive(t, a, b))
	app, err := s.Get(ctx, "user/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	d := app.Target.Digest.String()
	rec, err := s.Put(ctx, Image{Name: "user/app:ignored@" + d, Target: app.Target})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != "docker.io/user/app@"+d || !rec.Digested() || rec.Tagged() || rec.Dangling() {
		t.Fatalf("digest record %q: digested %v tagged %v", rec.Name, rec.Digested(), rec.Tagged())
	}
	if g, err := s.Get(ctx, "user/app:other@"+d); err != nil || g.Name != rec.Name {
		t.Fatalf("get name:tag@digest: %+v %v", g, err)
	}
	if _, err := s.Resolve(ctx, "user/other@"+d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a digest not recorded for that repository resolved: %v", err)
	}
	info, err := s.Inspect(ctx, "user/app:v1")
	if err != nil || !reflect.DeepEqual(info.RepoTags, []string{"user/app:v1"}) || !reflect.DeepEqual(info.RepoDigests, []string{"user/app@" + d}) {
		t.Fatalf("inspect: %q %q %v", info.RepoTags, info.RepoDigests, err)
	}

	// Without its tag the image stays (the digest names it), untagged.
	if err := s.Delete(ctx, "user/app:v1"); err != nil {
		t.Fatal(err)
	}
	sums, err := s.Summaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sum := range sums {
		if sum.ID == info.ID {
			found = true
			if len(sum.RepoTags) != 0 || !reflect.DeepEqual(sum.RepoDigests, []string{"user/app@" + d}) || !sum.Dangling {
				t.Fatalf("digest-only summary %+v", sum)
			}
		}
	}
	if !found {
		t.Fatal("digest-only image not listed")
	}

	// save by digest reference: the image without a name; by tag: the tag
	// only, though the image also has a digest.
	for _, c := range []struct {
		ref, tags string
		repos     bool
	}{{"user/app@" + d, "", false}, {"busybox", "busybox:latest", true}} {
		if c.ref == "busybox" {
			bb, _ := s.Get(ctx, "busybox")
			if _, err := s.Put(ctx, Image{Name: "busybox@" + bb.Target.Digest.String(), Target: bb.Target}); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := s.Save(ctx, &buf, []string{c.ref}, FormatDocker); err != nil {
			t.Fatalf("save %s: %v", c.ref, err)
		}
		files := tarFiles(t, buf.Bytes())
		var entries []dockerManifestEntry
		if err := json.Unmarshal(files["manifest.json"], &entries); err != nil || len(entries) != 1 || strings.Join(entries[0].RepoTags, ",") != c.tags {
			t.Fatalf("save %s: manifest.json %s", c.ref, files["manifest.json"])
		}
		if strings.Contains(string(files["index.json"]), "@sha256:") {
			t.Fatalf("save %s: index.json names a digest: %s", c.ref, files["index.json"])
		}
		if _, ok := files["repositories"]; ok != c.repos {
			t.Fatalf("save %s: repositories file %v, want %v", c.ref, ok, c.repos)
		}
		s2 := newTestStore(t)
		loadBytes(t, s2, buf.Bytes())
		all, _ := s2.List(ctx)
		for _, r := range all {
			if r.Digested() {
				t.Fatalf("load of what save %s wrote recorded the digest %s", c.ref, r.Name)
			}
		}
	}

	// A tag that moves to another image (a re-pull after the registry's tag
	// moved) leaves the old image with its digest reference and no
	// dangling placeholder.
	bb, _ := s.Get(ctx, "busybox")
	if _, err := s.Put(ctx, Image{Name: "user/app:v1", Target: app.Target}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, Image{Name: "user/app:v1", Target: bb.Target}); err != nil {
		t.Fatal(err)
	}
	all, _ := s.List(ctx)
	for _, r := range all {
		if r.Dangling() {
			t.Fatalf("dangling record %s next to a digest reference", r.Name)
		}
	}
	if info, err := s.Inspect(ctx, "user/app@"+d); err != nil || len(info.RepoTags) != 0 || len(info.RepoDigests) != 1 {
		t.Fatalf("the image the tag left: %+v %v", info, err)
	}
	if err := s.Delete(ctx, "user/app:v1"); err != nil {
		t.Fatal(err)
	}

	// prune (without -a) removes the image that only a digest names, not
	// the tagged ones.
	res, err := s.Prune(ctx, false, nil)
	if err != nil || len(res.Deleted) != 1 || res.Deleted[0].String() != info.ID || !reflect.DeepEqual(res.Untagged, []string{"user/app@" + d}) {
		t.Fatalf("prune: %+v %v", res, err)
	}
	if _, err := s.Get(ctx, "busybox"); err != nil {
		t.Fatalf("prune removed a tagged image: %v", err)
	}
}

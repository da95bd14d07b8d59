package registry

import (
	"context"
	"net/http"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func TestGarbageCollect(t *testing.T) {
	ctx := context.Background()
	tr := newTestRegistry(t, Options{})
	root := tr.srv.opts.Root
	keepDigest, _ := tr.pushImage("app", "keep", []byte("shared"), []byte("kept only"))
	goneDigest, _ := tr.pushImage("app", "gone", []byte("shared"), []byte("dropped only"))
	untagged, _ := tr.pushImage("app", "untagged", []byte("untagged layer"))
	tr.expect(tr.do("DELETE", "/v2/app/manifests/untagged", nil), http.StatusAccepted, "")
	tr.expect(tr.do("DELETE", "/v2/app/manifests/"+goneDigest.String(), nil), http.StatusAccepted, "")
	loose := tr.pushBlob("app", []byte("uploaded, never referenced"))

	// Fresh uploads are protected by MinAge; the deleted manifest is not.
	res, err := GarbageCollect(ctx, root, GCOptions{MinAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsRemoved != 1 || tr.srv.content.Exists(goneDigest) || !tr.srv.content.Exists(loose) ||
		!tr.srv.content.Exists(digest.FromString("dropped only")) {
		t.Fatalf("min-age: %+v", res)
	}
	// Dry run removes nothing.
	res, err = GarbageCollect(ctx, root, GCOptions{DryRun: true})
	if err != nil || res.BlobsRemoved == 0 || !tr.srv.content.Exists(loose) {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	res, err = GarbageCollect(ctx, root, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Gone: the deleted manifest, its own layer and config, the loose blob.
	// Kept: the tagged image, the shared layer and the untagged manifest.
	for _, d := range []digest.Digest{goneDigest, digest.FromString("dropped only"), loose} {
		if tr.srv.content.Exists(d) {
			t.Errorf("%s not collected", d)
		}
		tr.expect(tr.do("HEAD", "/v2/app/blobs/"+d.String(), nil), http.StatusNotFound, "")
	}
	for _, d := range []digest.Digest{keepDigest, digest.FromString("shared"), digest.FromString("kept only"), untagged, digest.FromString("untagged layer")} {
		if !tr.srv.content.Exists(d) {
			t.Errorf("%s collected", d)
		}
	}
	tr.expect(tr.do("GET", "/v2/app/manifests/keep", nil), http.StatusOK, "")
	tr.expect(tr.do("HEAD", "/v2/app/blobs/"+digest.FromString("kept only").String(), nil), http.StatusOK, "")
	if res.BlobsRemoved != 3 || res.LinksRemoved != 3 {
		t.Errorf("result %+v, want 3 blobs and links (config, layer, loose)", res)
	}

	// --delete-untagged takes the untagged manifest and what only it used.
	res, err = GarbageCollect(ctx, root, GCOptions{DeleteUntagged: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ManifestsRemoved != 1 || tr.srv.content.Exists(untagged) || tr.srv.content.Exists(digest.FromString("untagged layer")) {
		t.Fatalf("delete-untagged: %+v", res)
	}
	tr.expect(tr.do("GET", "/v2/app/manifests/keep", nil), http.StatusOK, "")
	tr.expect(tr.do("GET", "/v2/app/manifests/"+untagged.String(), nil), http.StatusNotFound, CodeManifestUnknown)
}

package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type testRegistry struct {
	t    *testing.T
	srv  *Server
	http *httptest.Server
	user string
	pass string
}

func newTestRegistry(t *testing.T, opts Options) *testRegistry {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); s.Close() })
	return &testRegistry{t: t, srv: s, http: hs}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) errorCode() Code {
	var b errorBody
	if json.Unmarshal(r.body, &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

func (tr *testRegistry) do(method, path string, body []byte, hdr ...string) resp {
	tr.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = tr.http.URL + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		tr.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if tr.user != "" {
		req.SetBasicAuth(tr.user, tr.pass)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (tr *testRegistry) expect(r resp, status int, code Code) {
	tr.t.Helper()
	if r.status != status {
		tr.t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" && r.errorCode() != code {
		tr.t.Fatalf("error code %q, want %q; body %s", r.errorCode(), code, r.body)
	}
}

// pushBlob uploads b monolithically (POST ?digest=).
func (tr *testRegistry) pushBlob(repo string, b []byte) digest.Digest {
	tr.t.Helper()
	d := digest.FromBytes(b)
	r := tr.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), b)
	tr.expect(r, http.StatusCreated, "")
	return d
}

// pushImage pushes a config, layers and a manifest tagged tag; it returns
// the manifest's digest and bytes.
func (tr *testRegistry) pushImage(repo, tag string, layers ...[]byte) (digest.Digest, []byte) {
	tr.t.Helper()
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%q}`, repo+tag))
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: tr.pushBlob(repo, cfg), Size: int64(len(cfg))}}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: tr.pushBlob(repo, l), Size: int64(len(l))})
	}
	mb, _ := json.Marshal(m)
	r := tr.do("PUT", "/v2/"+repo+"/manifests/"+tag, mb, "Content-Type", ocispec.MediaTypeImageManifest)
	tr.expect(r, http.StatusCreated, "")
	return digest.FromBytes(mb), mb
}

func TestNames(t *testing.T) {
	for _, n := range []string{"a", "library/busybox", "a-b--c/d.e/f_g/h__i", "0/1", "x/blobs/manifests"} {
		if !validName(n) {
			t.Errorf("%q should be valid", n)
		}
	}
	for _, n := range []string{"", "A", "a/", "/a", "a//b", "a-", "-a", "a___b", "a..b", "a/_b", "a:b", strings.Repeat("a", 256)} {
		if validName(n) {
			t.Errorf("%q should be invalid", n)
		}
	}
	for _, tg := range []string{"latest", "v1.0", "_x", "A-b_c.d", strings.Repeat("t", 128)} {
		if !validTag(tg) {
			t.Errorf("tag %q should be valid", tg)
		}
	}
	for _, tg := range []string{"", ".x", "-x", "a/b", "a:b", strings.Repeat("t", 129)} {
		if validTag(tg) {
			t.Errorf("tag %q should be invalid", tg)
		}
	}
}

func TestParseRoute(t *testing.T) {
	cases := map[string]route{
		"/v2/":                                 {kind: "base"},
		"/v2/_catalog":                         {kind: "catalog"},
		"/v2/a/b/tags/list":                    {kind: "tags", name: "a/b"},
		"/v2/a/manifests/latest":               {kind: "manifest", name: "a", ref: "latest"},
		"/v2/a/manifests/b/manifests/sha256:x": {kind: "manifest", name: "a/manifests/b", ref: "sha256:x"},
		"/v2/x/blobs/blobs/sha256:y":           {kind: "blob", name: "x/blobs", ref: "sha256:y"},
		"/v2/a/blobs/uploads/":                 {kind: "uploads", name: "a"},
		"/v2/a/blobs/uploads/0123":             {kind: "upload", name: "a", ref: "0123"},
		"/v2/a/referrers/sha256:z":             {kind: "referrers", name: "a", ref: "sha256:z"},
	}
	for p, want := range cases {
		got, ok := parseRoute(p)
		if !ok || got != want {
			t.Errorf("parseRoute(%q) = %+v %v, want %+v", p, got, ok, want)
		}
	}
	for _, p := range []string{"/v1/", "/v2/a", "/v2/a/unknown/x", "/other"} {
		if r, ok := parseRoute(p); ok {
			t.Errorf("parseRoute(%q) = %+v, want no route", p, r)
		}
	}
}

func TestBaseAndErrors(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	r := tr.do("GET", "/v2/", nil)
	tr.expect(r, 200, "")
	if r.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("API version header missing: %v", r.header)
	}
	tr.expect(tr.do("GET", "/v2/Bad_Name/tags/list", nil), 400, CodeNameInvalid)
	tr.expect(tr.do("GET", "/v2/nothing/tags/list", nil), 404, CodeNameUnknown)
	tr.expect(tr.do("GET", "/v2/a/manifests/latest", nil), 404, CodeManifestUnknown)
	tr.expect(tr.do("GET", "/v2/a/blobs/sha256:nothex", nil), 400, CodeDigestInvalid)
	tr.expect(tr.do("GET", "/v2/a/blobs/"+digest.FromString("x").String(), nil), 404, CodeBlobUnknown)
	tr.expect(tr.do("POST", "/v2/a/manifests/latest", nil), 405, CodeUnsupported)
	tr.expect(tr.do("PATCH", "/v2/a/blobs/uploads/00000000000000000000000000000000", []byte("x")), 404, CodeBlobUploadUnknown)
	tr.expect(tr.do("PATCH", "/v2/a/blobs/uploads/zz", []byte("x")), 404, CodeBlobUploadUnknown)
	tr.expect(tr.do("PATCH", "/v2/a/blobs/uploads/../../etc", []byte("x")), 400, CodeNameInvalid)
}

func TestChunkedUpload(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	data := bytes.Repeat([]byte("0123456789"), 1000)
	d := digest.FromBytes(data)
	r := tr.do("POST", "/v2/r/blobs/uploads/", nil)
	tr.expect(r, 202, "")
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/r/blobs/uploads/") || r.header.Get("Range") != "0-0" {
		t.Fatalf("start: %v", r.header)
	}
	r = tr.do("PATCH", loc, data[:4000], "Content-Range", "0-3999", "Content-Type", "application/octet-stream")
	tr.expect(r, 202, "")
	if r.header.Get("Range") != "0-3999" {
		t.Fatalf("range after chunk 1: %q", r.header.Get("Range"))
	}
	// Out of order: refused with 416 and the current range, nothing appended.
	r = tr.do("PATCH", loc, data[5000:6000], "Content-Range", "5000-5999")
	tr.expect(r, 416, CodeRangeInvalid)
	if r.header.Get("Range") != "0-3999" || r.header.Get("Location") == "" {
		t.Fatalf("416 headers: %v", r.header)
	}
	// Length that does not match the range.
	tr.expect(tr.do("PATCH", loc, data[4000:4010], "Content-Range", "4000-4999"), 400, CodeSizeInvalid)
	// Another repository cannot touch the session.
	tr.expect(tr.do("PATCH", strings.Replace(loc, "/v2/r/", "/v2/other/", 1), data[4000:5000]), 404, CodeBlobUploadUnknown)
	// Status.
	r = tr.do("GET", loc, nil)
	tr.expect(r, 204, "")
	if r.header.Get("Range") != "0-3999" {
		t.Fatalf("status range %q", r.header.Get("Range"))
	}
	// Stream the rest without Content-Range, then a wrong digest: refused,
	// nothing visible.
	r = tr.do("PATCH", loc, data[4000:9000])
	tr.expect(r, 202, "")
	// Final chunk with the PUT.
	r = tr.do("PUT", loc+"?digest="+d.String(), data[9000:], "Content-Range", "9000-9999")
	tr.expect(r, 201, "")
	if r.header.Get("Docker-Content-Digest") != d.String() || r.header.Get("Location") != "/v2/r/blobs/"+d.String() {
		t.Fatalf("finish headers: %v", r.header)
	}
	r = tr.do("GET", "/v2/r/blobs/"+d.String(), nil)
	tr.expect(r, 200, "")
	if !bytes.Equal(r.body, data) {
		t.Fatal("blob content differs")
	}
	// The session is gone.
	tr.expect(tr.do("GET", loc, nil), 404, CodeBlobUploadUnknown)
	// Ranges.
	r = tr.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "bytes=10-19")
	tr.expect(r, 206, "")
	if string(r.body) != "0123456789" || r.header.Get("Content-Range") != "bytes 10-19/10000" {
		t.Fatalf("range: %q %v", r.body, r.header)
	}
	tr.expect(tr.do("GET", "/v2/r/blobs/"+d.String(), nil, "Range", "bytes=20000-"), 416, "")
}

func TestDigestMismatchLeavesNothing(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	data := []byte("real content")
	claimed := digest.FromString("something else")
	tr.expect(tr.do("POST", "/v2/r/blobs/uploads/?digest="+claimed.String(), data), 400, CodeDigestInvalid)
	r := tr.do("POST", "/v2/r/blobs/uploads/", nil)
	loc := r.header.Get("Location")
	tr.expect(tr.do("PUT", loc+"?digest="+claimed.String(), data), 400, CodeDigestInvalid)
	tr.expect(tr.do("HEAD", "/v2/r/blobs/"+claimed.String(), nil), 404, "")
	tr.expect(tr.do("HEAD", "/v2/r/blobs/"+digest.FromBytes(data).String(), nil), 404, "")
	if tr.srv.content.Exists(claimed) || tr.srv.content.Exists(digest.FromBytes(data)) {
		t.Fatal("a blob was stored")
	}
	ents, _ := os.ReadDir(filepath.Join(tr.srv.opts.Root, "content", "ingest"))
	if len(ents) != 0 {
		t.Fatalf("ingests left: %v", ents)
	}
}

func TestUploadSHA512AndCancel(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	data := bytes.Repeat([]byte("x"), 3000)
	d := digest.SHA512.FromBytes(data)
	r := tr.do("POST", "/v2/r/blobs/uploads/", nil)
	loc := r.header.Get("Location")
	tr.expect(tr.do("PATCH", loc, data[:1000], "Content-Range", "0-999"), 202, "")
	tr.expect(tr.do("PATCH", loc, data[1000:], "Content-Range", "1000-2999"), 202, "")
	r = tr.do("PUT", loc+"?digest="+d.String(), nil)
	tr.expect(r, 201, "")
	r = tr.do("GET", "/v2/r/blobs/"+d.String(), nil)
	if r.status != 200 || !bytes.Equal(r.body, data) || r.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("sha512 blob: %d %v", r.status, r.header)
	}
	// Cancel.
	r = tr.do("POST", "/v2/r/blobs/uploads/", nil)
	loc = r.header.Get("Location")
	tr.expect(tr.do("PATCH", loc, []byte("abc")), 202, "")
	tr.expect(tr.do("DELETE", loc, nil), 204, "")
	tr.expect(tr.do("GET", loc, nil), 404, CodeBlobUploadUnknown)
}

func TestMount(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	d := tr.pushBlob("src", []byte("shared layer"))
	r := tr.do("POST", "/v2/dst/blobs/uploads/?mount="+d.String()+"&from=src", nil)
	tr.expect(r, 201, "")
	if r.header.Get("Location") != "/v2/dst/blobs/"+d.String() {
		t.Fatalf("mount location %q", r.header.Get("Location"))
	}
	tr.expect(tr.do("HEAD", "/v2/dst/blobs/"+d.String(), nil), 200, "")
	// From a repository without the blob: a new session instead.
	other := tr.pushBlob("third", []byte("only in third"))
	r = tr.do("POST", "/v2/dst2/blobs/uploads/?mount="+other.String()+"&from=src", nil)
	tr.expect(r, 202, "")
	if !strings.HasPrefix(r.header.Get("Location"), "/v2/dst2/blobs/uploads/") {
		t.Fatalf("fallback location %q", r.header.Get("Location"))
	}
	tr.expect(tr.do("HEAD", "/v2/dst2/blobs/"+other.String(), nil), 404, "")
	// Anonymous mount of a blob the registry has.
	tr.expect(tr.do("POST", "/v2/dst3/blobs/uploads/?mount="+other.String(), nil), 201, "")
	// Blobs are per repository: deleting from one leaves the other.
	tr.expect(tr.do("DELETE", "/v2/dst/blobs/"+d.String(), nil), 202, "")
	tr.expect(tr.do("HEAD", "/v2/dst/blobs/"+d.String(), nil), 404, "")
	tr.expect(tr.do("HEAD", "/v2/src/blobs/"+d.String(), nil), 200, "")
	tr.expect(tr.do("DELETE", "/v2/dst/blobs/"+d.String(), nil), 404, CodeBlobUnknown)
}

func TestManifests(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	md, mb := tr.pushImage("app", "v1", []byte("layer one"), []byte("layer two"))
	for _, ref := range []string{"v1", md.String()} {
		r := tr.do("GET", "/v2/app/manifests/"+ref, nil)
		tr.expect(r, 200, "")
		if !bytes.Equal(r.body, mb) || r.header.Get("Content-Type") != ocispec.MediaTypeImageManifest ||
			r.header.Get("Docker-Content-Digest") != md.String() {
			t.Fatalf("get %s: %v", ref, r.header)
		}
		r = tr.do("HEAD", "/v2/app/manifests/"+ref, nil)
		if r.status != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != fmt.Sprint(len(mb)) {
			t.Fatalf("head %s: %d %v", ref, r.status, r.header)
		}
	}
	// A manifest whose layer is not in the repository.
	var m ocispec.Manifest
	json.Unmarshal(mb, &m)
	m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("absent"), Size: 6})
	bad, _ := json.Marshal(m)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v2", bad, "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeManifestBlobUnknown)
	// A layer in another repository is not enough.
	json.Unmarshal(mb, &m)
	m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: tr.pushBlob("elsewhere", []byte("xx")), Size: 2})
	bad, _ = json.Marshal(m)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v2", bad, "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeManifestBlobUnknown)
	// Wrong size.
	json.Unmarshal(mb, &m)
	m.Layers[0].Size++
	bad, _ = json.Marshal(m)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v2", bad, "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeManifestInvalid)
	// Digest that does not match, bad JSON, schema 1, mismatching media type, bad tag.
	tr.expect(tr.do("PUT", "/v2/app/manifests/"+digest.FromString("x").String(), mb, "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeDigestInvalid)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v3", []byte("{"), "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeManifestInvalid)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v3", []byte(`{"schemaVersion":1,"fsLayers":[]}`), "Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws"), 400, CodeManifestInvalid)
	tr.expect(tr.do("PUT", "/v2/app/manifests/v3", mb, "Content-Type", ocispec.MediaTypeImageIndex), 400, CodeManifestInvalid)
	tr.expect(tr.do("PUT", "/v2/app/manifests/-bad", mb, "Content-Type", ocispec.MediaTypeImageManifest), 400, CodeTagInvalid)
	// An index over a missing child is refused; over the image it is taken.
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("nope"), Size: 4}}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	tr.expect(tr.do("PUT", "/v2/app/manifests/multi", ib, "Content-Type", ocispec.MediaTypeImageIndex), 400, CodeManifestBlobUnknown)
	idx.Manifests[0] = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
	ib, _ = json.Marshal(idx)
	tr.expect(tr.do("PUT", "/v2/app/manifests/multi", ib, "Content-Type", ocispec.MediaTypeImageIndex), 201, "")
	// Delete a tag: the manifest stays; delete the manifest: its tags go.
	tr.do("PUT", "/v2/app/manifests/v1-alias", mb, "Content-Type", ocispec.MediaTypeImageManifest)
	tr.expect(tr.do("DELETE", "/v2/app/manifests/v1-alias", nil), 202, "")
	tr.expect(tr.do("GET", "/v2/app/manifests/v1-alias", nil), 404, CodeManifestUnknown)
	tr.expect(tr.do("GET", "/v2/app/manifests/"+md.String(), nil), 200, "")
	tr.expect(tr.do("DELETE", "/v2/app/manifests/"+md.String(), nil), 202, "")
	tr.expect(tr.do("GET", "/v2/app/manifests/v1", nil), 404, CodeManifestUnknown)
	tr.expect(tr.do("DELETE", "/v2/app/manifests/"+md.String(), nil), 404, CodeManifestUnknown)
}

func TestTagsAndCatalogPagination(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	_, mb := tr.pushImage("lib/app", "a")
	for _, tag := range []string{"d", "b", "c", "e"} {
		tr.expect(tr.do("PUT", "/v2/lib/app/manifests/"+tag, mb, "Content-Type", ocispec.MediaTypeImageManifest), 201, "")
	}
	tr.pushImage("lib/other", "x")
	tr.pushImage("zeta", "x")
	var tl struct {
		Name string
		Tags []string
	}
	r := tr.do("GET", "/v2/lib/app/tags/list", nil)
	json.Unmarshal(r.body, &tl)
	if tl.Name != "lib/app" || strings.Join(tl.Tags, ",") != "a,b,c,d,e" || r.header.Get("Link") != "" {
		t.Fatalf("tags %+v link %q", tl, r.header.Get("Link"))
	}
	r = tr.do("GET", "/v2/lib/app/tags/list?n=2", nil)
	json.Unmarshal(r.body, &tl)
	if strings.Join(tl.Tags, ",") != "a,b" || r.header.Get("Link") != `</v2/lib/app/tags/list?last=b&n=2>; rel="next"` {
		t.Fatalf("page 1 %v link %q", tl.Tags, r.header.Get("Link"))
	}
	r = tr.do("GET", "/v2/lib/app/tags/list?n=2&last=d", nil)
	json.Unmarshal(r.body, &tl)
	if strings.Join(tl.Tags, ",") != "e" || r.header.Get("Link") != "" {
		t.Fatalf("last page %v link %q", tl.Tags, r.header.Get("Link"))
	}
	tr.expect(tr.do("GET", "/v2/lib/app/tags/list?n=-1", nil), 400, CodePaginationInvalid)
	var cat struct{ Repositories []string }
	r = tr.do("GET", "/v2/_catalog", nil)
	json.Unmarshal(r.body, &cat)
	if strings.Join(cat.Repositories, ",") != "lib/app,lib/other,zeta" {
		t.Fatalf("catalog %v", cat.Repositories)
	}
	r = tr.do("GET", "/v2/_catalog?n=1&last=lib/app", nil)
	json.Unmarshal(r.body, &cat)
	if strings.Join(cat.Repositories, ",") != "lib/other" || !strings.Contains(r.header.Get("Link"), "last=lib%2Fother") {
		t.Fatalf("catalog page %v %q", cat.Repositories, r.header.Get("Link"))
	}
}

func TestReferrers(t *testing.T) {
	tr := newTestRegistry(t, Options{})
	subj, sb := tr.pushImage("app", "v1", []byte("l"))
	empty := tr.pushBlob("app", []byte("{}"))
	push := func(artifactType string, annotations map[string]string) digest.Digest {
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
			Config:      ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: empty, Size: 2},
			Subject:     &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subj, Size: int64(len(sb))},
			Annotations: annotations}
		m.SchemaVersion = 2
		b, _ := json.Marshal(m)
		d := digest.FromBytes(b)
		r := tr.do("PUT", "/v2/app/manifests/"+d.String(), b, "Content-Type", ocispec.MediaTypeImageManifest)
		tr.expect(r, 201, "")
		if r.header.Get("OCI-Subject") != subj.String() {
			t.Fatalf("OCI-Subject %q", r.header.Get("OCI-Subject"))
		}
		return d
	}
	sig := push("application/example.signature", map[string]string{"k": "v"})
	sbom := push("", nil) // artifactType falls back to the config's media type
	list := func(q string) (ocispec.Index, http.Header) {
		r := tr.do("GET", "/v2/app/referrers/"+subj.String()+q, nil)
		tr.expect(r, 200, "")
		var idx ocispec.Index
		if err := json.Unmarshal(r.body, &idx); err != nil || r.header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
			t.Fatalf("referrers: %v %v", err, r.header)
		}
		return idx, r.header
	}
	idx, _ := list("")
	if len(idx.Manifests) != 2 {
		t.Fatalf("referrers %+v", idx.Manifests)
	}
	for _, m := range idx.Manifests {
		switch m.Digest {
		case sig:
			if m.ArtifactType != "application/example.signature" || m.Annotations["k"] != "v" {
				t.Fatalf("sig %+v", m)
			}
		case sbom:
			if m.ArtifactType != "application/vnd.oci.empty.v1+json" {
				t.Fatalf("sbom %+v", m)
			}
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	idx, h := list("?artifactType=application/example.signature")
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sig || h.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("filtered %+v %v", idx.Manifests, h)
	}
	// Deleting a referrer takes it out of the list; an unknown subject has none.
	tr.expect(tr.do("DELETE", "/v2/app/manifests/"+sig.String(), nil), 202, "")
	if idx, _ := list(""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sbom {
		t.Fatalf("after delete %+v", idx.Manifests)
	}
	r := tr.do("GET", "/v2/app/referrers/"+digest.FromString("none").String(), nil)
	tr.expect(r, 200, "")
	if !strings.Contains(string(r.body), `"manifests":[]`) {
		t.Fatalf("empty referrers %s", r.body)
	}
}

func TestReadOnly(t *testing.T) {
	root := t.TempDir()
	rw := newTestRegistry(t, Options{Root: root})
	md, _ := rw.pushImage("app", "v1", []byte("l"))
	ro := newTestRegistry(t, Options{Root: root, ReadOnly: true})
	ro.expect(ro.do("GET", "/v2/app/manifests/v1", nil), 200, "")
	ro.expect(ro.do("POST", "/v2/app/blobs/uploads/", nil), 405, CodeUnsupported)
	ro.expect(ro.do("PUT", "/v2/app/manifests/v2", []byte("{}")), 405, CodeUnsupported)
	ro.expect(ro.do("DELETE", "/v2/app/manifests/"+md.String(), nil), 405, CodeUnsupported)
	ro.expect(ro.do("GET", "/v2/app/manifests/"+md.String(), nil), 200, "")
}

package image

import (
	"strings"
	"testing"

	imagetypes "github.com/moby/moby/api/types/image"
)

// TestImageRows: the rows of `images` are docker CLI's (checked against
// docker 28 with dockerd): a repository known by digest only has tag
// <none>, and its digest only with --digests; a tag row shows its
// repository's digest when digests are wanted (--digests or a format
// with {{.Digest}}).
func TestImageRows(t *testing.T) {
	const d = "sha256:b093ff7a5f61a6606e8c34ce5a607e438d75f60b78f91900e25eb1607c69e016"
	rows := func(s imagetypes.Summary, show, need bool) string {
		var out []string
		for _, r := range imageRows(s, show, need) {
			out = append(out, r.repo+"|"+r.tag+"|"+r.digest)
		}
		return strings.Join(out, " ")
	}
	digestOnly := imagetypes.Summary{RepoTags: []string{}, RepoDigests: []string{"127.0.0.1:5000/dg/a@" + d}}
	both := imagetypes.Summary{RepoTags: []string{"127.0.0.1:5000/dg/b:2", "127.0.0.1:5000/dg/a:1"}, RepoDigests: []string{"127.0.0.1:5000/dg/a@" + d}}
	for _, c := range []struct {
		s          imagetypes.Summary
		show, need bool
		want       string
	}{
		{digestOnly, false, false, "127.0.0.1:5000/dg/a|<none>|"},
		{digestOnly, false, true, "127.0.0.1:5000/dg/a|<none>|"},
		{digestOnly, true, true, "127.0.0.1:5000/dg/a|<none>|" + d},
		{both, false, false, "127.0.0.1:5000/dg/a|1|<none> 127.0.0.1:5000/dg/b|2|<none>"},
		{both, false, true, "127.0.0.1:5000/dg/a|1|" + d + " 127.0.0.1:5000/dg/b|2|<none>"},
		{both, true, true, "127.0.0.1:5000/dg/a|1|" + d + " 127.0.0.1:5000/dg/b|2|<none>"},
		{imagetypes.Summary{RepoTags: []string{"busybox:latest"}, RepoDigests: []string{"other@" + d}}, true, true,
			"busybox|latest|<none> other|<none>|" + d},
		{imagetypes.Summary{}, true, true, "<none>|<none>|<none>"},
	} {
		if got := rows(c.s, c.show, c.need); got != c.want {
			t.Errorf("%v %v/%v (--digests/needed):\n got %s\nwant %s", c.s.RepoTags, c.s.RepoDigests, c.show, got, c.want)
		}
	}
}

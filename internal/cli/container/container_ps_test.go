package container

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

// TestPSImage: ps shows the image as docker's CLI does: a digest left
// out unless --no-trunc, an ID shortened.
func TestPSImage(t *testing.T) {
	const id = "sha256:587caa27a0cf68369319704c44fdbaf1cc874969c2e3f012ec55be0942688634"
	const d = "@sha256:b093ff7a5f61a6606e8c34ce5a607e438d75f60b78f91900e25eb1607c69e016"
	for _, c := range []struct {
		image string
		trunc bool
		want  string
	}{
		{"127.0.0.1:5000/dg/a" + d, true, "127.0.0.1:5000/dg/a"},
		{"127.0.0.1:5000/dg/a" + d, false, "127.0.0.1:5000/dg/a" + d},
		{"busybox:1" + d, true, "busybox:1"},
		{"docker.io/library/busybox:latest", true, "busybox:latest"},
		{"busybox", true, "busybox"},
		{id, true, "587caa27a0cf"},
		{"587caa27a0cf", true, "587caa27a0cf"},
		{"", true, "<no image>"},
	} {
		r := psRow{s: container.Summary{Image: c.image, ImageID: id}, trunc: c.trunc}
		if got := r.Image(); got != c.want {
			t.Errorf("Image %q (trunc %v) = %q, want %q", c.image, c.trunc, got, c.want)
		}
	}
}

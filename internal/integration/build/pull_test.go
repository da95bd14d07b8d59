package build

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/integration/harness"
)

// TestFromPullsMissingImage: FROM of an image the daemon lacks pulls it.
func TestFromPullsMissingImage(t *testing.T) {
	d := harness.Start(t)
	host := harness.StartRegistry(t)
	ref := host + "/base/busybox:v1"
	d.Must("tag", "busybox", ref)
	d.Must("push", ref)
	d.Must("rmi", ref)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN echo pulled-base > /marker\nCMD [\"cat\", \"/marker\"]\n"})
	r := build(t, d, dir, "-t", "from-pulled")
	if out := d.Must("run", "--rm", "from-pulled"); out != "pulled-base" {
		t.Errorf("run: %q\nbuild output:\n%s", out, r.Stdout)
	}
	if r := d.Berth("", "", nil, "image", "inspect", ref); r.Code != 0 {
		t.Errorf("the pulled base is not in the store: %s", r)
	}
	// A missing image in no reachable registry: Docker's error.
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM " + host + "/no/such:image\n"})
	if r := d.Berth("", "", nil, "build", bad); r.Code == 0 || !strings.Contains(r.Stderr, "no/such") {
		t.Errorf("missing base: %s", r)
	}
}

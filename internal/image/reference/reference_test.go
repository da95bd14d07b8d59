package reference

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	const d = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ in, want, familiar string }{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"user/app:v2", "docker.io/user/app:v2", "user/app:v2"},
		{"localhost:5000/x:y", "localhost:5000/x:y", "localhost:5000/x:y"},
		{"localhost/x", "localhost/x:latest", "localhost/x:latest"},
		{"quay.io/a/b/c", "quay.io/a/b/c:latest", "quay.io/a/b/c:latest"},
		{"busybox@" + d, "docker.io/library/busybox@" + d, "busybox@" + d},
		{"busybox:1@" + d, "docker.io/library/busybox:1@" + d, "busybox:1@" + d},
		{"127.0.0.1:5000/img", "127.0.0.1:5000/img:latest", "127.0.0.1:5000/img:latest"},
	} {
		got, err := Normalize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if f := Familiar(got); f != tc.familiar {
			t.Errorf("Familiar(%q) = %q, want %q", got, f, tc.familiar)
		}
	}
	for _, bad := range []string{"", "UPPER", "a:b:c", "busybox@sha256:short", ":tag", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPartsAndMatch(t *testing.T) {
	n, err := Parse("localhost:5000/team/app:1.2")
	if err != nil {
		t.Fatal(err)
	}
	if Domain(n) != "localhost:5000" || Path(n) != "team/app" || Tag(n) != "1.2" || FamiliarName(n) != "localhost:5000/team/app" {
		t.Fatalf("parts: %s %s %s %s", Domain(n), Path(n), Tag(n), FamiliarName(n))
	}
	if r, _ := WithTag(n, "2"); r.String() != "localhost:5000/team/app:2" {
		t.Fatalf("WithTag: %s", r)
	}
	if !Match("busy*", "docker.io/library/busybox:latest") || !Match("busybox:latest", "docker.io/library/busybox:latest") ||
		Match("alpine", "docker.io/library/busybox:latest") {
		t.Fatal("Match")
	}
}

func TestParseID(t *testing.T) {
	full := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if h, f, ok := ParseID("sha256:" + full); !ok || !f || h != full {
		t.Fatal("full id")
	}
	if h, f, ok := ParseID("0123ab"); !ok || f || h != "0123ab" {
		t.Fatal("prefix")
	}
	if h, f, ok := ParseID("SHA256:0123AB"); !ok || f || h != "0123ab" {
		t.Fatalf("upper case: %q %v %v", h, f, ok)
	}
	for _, bad := range []string{"busybox", "", "sha256:", "sha256", "sha512:0123", "0123ag", full + "0", " 0123", "sha256:sha256:01"} {
		if h, _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) = %q, want not an ID", bad, h)
		}
	}
}

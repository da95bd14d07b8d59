package platform

import (
	"runtime"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":      "linux/amd64",
		"linux/x86_64":     "linux/amd64",
		"linux/amd64/v1":   "linux/amd64",
		"linux/aarch64":    "linux/arm64",
		"linux/arm64/v8":   "linux/arm64",
		"linux/arm":        "linux/arm/v7",
		"linux/armhf":      "linux/arm/v7",
		"linux/arm/6":      "linux/arm/v6",
		"arm64":            "linux/arm64",
		"Linux/AMD64":      "linux/amd64",
		"windows/amd64/v3": "windows/amd64/v3",
	} {
		p, err := Parse(in)
		if err != nil || Format(p) != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, Format(p), err, want)
		}
	}
	for _, bad := range []string{"", "linux//", "a/b/c/d"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if h := Host(); h.OS != runtime.GOOS || h.Architecture != runtime.GOARCH {
		t.Fatalf("host %v", h)
	}
}

func TestMatcher(t *testing.T) {
	m := Only(ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"})
	if !m.Match(ocispec.Platform{OS: "linux", Architecture: "amd64"}) ||
		!m.Match(ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v1"}) ||
		!m.Match(ocispec.Platform{OS: "linux", Architecture: "x86_64", Variant: "v2"}) {
		t.Fatal("should match baseline and own level")
	}
	if m.Match(ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}) ||
		m.Match(ocispec.Platform{OS: "linux", Architecture: "arm64"}) ||
		m.Match(ocispec.Platform{OS: "windows", Architecture: "amd64"}) {
		t.Fatal("matched an incompatible platform")
	}
	v2 := ocispec.Platform{OS: "linux", Architecture: "amd64", Variant: "v2"}
	base := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if !m.Less(v2, base) || m.Less(base, v2) {
		t.Fatal("own level should be preferred")
	}
	arm := Only(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	if !arm.Match(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}) || arm.Match(ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v8"}) {
		t.Fatal("arm variants")
	}
	if !Default().Match(Host()) {
		t.Fatal("default does not match host")
	}
}

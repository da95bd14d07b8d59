package archive

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// escapeSetup makes tmp/root (the layer root) and tmp/outside holding a
// file "secret" that no layer may touch.
func escapeSetup(t *testing.T) (root, outside string) {
	tmp := t.TempDir()
	root = filepath.Join(tmp, "root")
	outside = filepath.Join(tmp, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root, outside
}

// checkOutside asserts tmp holds only root and outside, and outside only
// the untouched secret.
func checkOutside(t *testing.T, root, outside string) {
	t.Helper()
	tmpEntries, err := os.ReadDir(filepath.Dir(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpEntries) != 2 {
		var names []string
		for _, e := range tmpEntries {
			names = append(names, e.Name())
		}
		t.Errorf("entries next to root: %v", names)
	}
	want := map[string]string{"secret": describe(t, outside)["secret"]}
	got := describe(t, outside)
	if len(got) != 1 || !strings.Contains(got["secret"], "mode=100600") || !strings.Contains(want["secret"], "size=6") {
		t.Errorf("outside changed: %v", got)
	}
	b, err := os.ReadFile(filepath.Join(outside, "secret"))
	if err != nil || string(b) != "secret" {
		t.Errorf("outside/secret = %q, %v", b, err)
	}
	if st := lstatT(t, filepath.Join(outside, "secret")); st.Nlink != 1 || st.Uid != 0 {
		t.Errorf("outside/secret nlink=%d uid=%d", st.Nlink, st.Uid)
	}
}

func TestApplyEscapes(t *testing.T) {
	type layers func(outside string) [][]ent
	cases := []struct {
		name   string
		layers layers
		// mustFail: Apply has to refuse the layer; otherwise it may
		// refuse or contain it.
		mustFail bool
	}{
		{name: "dotdot name", layers: func(o string) [][]ent {
			return [][]ent{{file("../outside/secret", "pwned"), file("../../../../../../../evil", "x")}}
		}},
		{name: "absolute name", layers: func(o string) [][]ent {
			return [][]ent{{file(filepath.Join(o, "secret"), "pwned"), file("/evil", "x")}}
		}},
		{name: "absolute symlink parent", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", o), file("l/secret", "pwned"), file("l/new", "x")}}
		}},
		{name: "relative symlink parent", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", "../../../../../../../.."+o), file("l/secret", "pwned"), dir("l/newdir")}}
		}},
		{name: "dotdot symlink parent", layers: func(o string) [][]ent {
			return [][]ent{{symlink("up", ".."), file("up/outside/secret", "pwned"), file("up/up/up/evil", "x")}}
		}},
		{name: "symlink chain", layers: func(o string) [][]ent {
			return [][]ent{{symlink("a", "b"), symlink("b", "c/../../outside"), file("a/secret", "pwned")}}
		}},
		{name: "symlink from earlier layer", layers: func(o string) [][]ent {
			return [][]ent{
				{dir("d"), symlink("d/l", "../../outside")},
				{file("d/l/secret", "pwned"), symlink("d/l/x", "/"), file("d/l/x/evil", "y")},
			}
		}},
		{name: "hardlink dotdot target", mustFail: true, layers: func(o string) [][]ent {
			return [][]ent{{hardlink("h", "../outside/secret")}}
		}},
		{name: "hardlink absolute target", mustFail: true, layers: func(o string) [][]ent {
			return [][]ent{{hardlink("h", filepath.Join(o, "secret"))}}
		}},
		{name: "hardlink through symlink", mustFail: true, layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", o), hardlink("h", "l/secret")}}
		}},
		{name: "hardlink to symlink then write", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", filepath.Join(o, "secret")), hardlink("h", "l"), file("h", "pwned")}}
		}},
		{name: "file over symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", filepath.Join(o, "secret"))}, {file("l", "pwned")}}
		}},
		{name: "dir over symlink", layers: func(o string) [][]ent {
			e := dir("l")
			e.mode = 0o777
			e.uid = 1234
			return [][]ent{{symlink("l", o), e, file("l/secret", "pwned")}}
		}},
		{name: "symlink metadata", layers: func(o string) [][]ent {
			e := symlink("l", filepath.Join(o, "secret"))
			e.uid, e.mode = 4321, 0o4777
			e.xattrs = map[string]string{"user.evil": "1"}
			return [][]ent{{e}}
		}},
		{name: "device through symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", o), {name: "l/dev", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3}}}
		}},
		{name: "whiteout through symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", o)}, {file("l/.wh.secret", ""), file("../outside/.wh.secret", "")}}
		}},
		{name: "opaque through symlink", layers: func(o string) [][]ent {
			return [][]ent{{symlink("l", o)}, {file("l/.wh..wh..opq", ""), file("../outside/.wh..wh..opq", "")}}
		}},
		{name: "whiteout dotdot name", layers: func(o string) [][]ent {
			return [][]ent{{file("x/.wh...", ""), file(".wh..", "")}}
		}},
	}
	for _, overlay := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if overlay {
				name += "/overlay"
			}
			t.Run(name, func(t *testing.T) {
				root, outside := escapeSetup(t)
				var err error
				for _, layer := range tc.layers(outside) {
					if err = applyTar(t, root, overlay, layer...); err != nil {
						break
					}
				}
				if tc.mustFail && err == nil {
					t.Errorf("Apply accepted the layer")
				}
				checkOutside(t, root, outside)
			})
		}
	}
}

// TestApplyEscapeContained checks where contained paths land.
func TestApplyEscapeContained(t *testing.T) {
	root, outside := escapeSetup(t)
	mustApply(t, root, false,
		file("../../a", "a"),
		dir(outside),
		symlink("l", outside),
		file("l/b", "b"),
		symlink("up", "../.."),
		file("up/c", "c"),
	)
	for p, want := range map[string]string{
		"a":                "a",
		outside[1:] + "/b": "b",
		"c":                "c",
	} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	checkOutside(t, root, outside)
}

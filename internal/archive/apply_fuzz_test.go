package archive

import (
	"archive/tar"
	"strings"
	"testing"
)

// fuzzLayers decodes fuzz input into up to two layers of entries built
// from a vocabulary rich in escape attempts: "..", absolute paths,
// symlinks to the outside directory, whiteouts and hardlinks. The outside
// directory is the only absolute target, so a bug shows up there rather
// than on the host.
func fuzzLayers(data []byte, outside string) [][]ent {
	components := []string{"a", "b", "l", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh.l", "outside", "secret"}
	links := []string{"a", "..", "../..", "../outside", outside, outside + "/secret", "l/a", "b/../../outside/secret",
		"/a", "l", "../../../../" + outside, "/l/..", "a/b"}
	layers := [][]ent{nil}
	for len(data) >= 4 {
		typ, n1, n2, link := data[0], data[1], data[2], data[3]
		data = data[4:]
		if typ >= 0xf0 && len(layers) == 1 {
			layers = append(layers, nil)
		}
		parts := []string{components[int(n1)%len(components)], components[int(n1>>4)%len(components)],
			components[int(n2)%len(components)]}
		name := strings.Join(parts[:1+int(n2>>6)%3], "/")
		if n2&0x20 != 0 {
			name = "/" + name
		}
		// tar cannot encode a non-directory whose name ends in a slash.
		if name = strings.TrimRight(name, "/"); name == "" {
			name = "."
		}
		e := ent{name: name, mode: 0o755}
		switch typ % 7 {
		case 0:
			e.typ, e.body = tar.TypeReg, "pwned"
		case 1:
			e.typ = tar.TypeDir
		case 2:
			e.typ, e.link = tar.TypeSymlink, links[int(link)%len(links)]
		case 3:
			e.typ, e.link = tar.TypeLink, links[int(link)%len(links)]
		case 4:
			e.typ, e.major, e.minor = tar.TypeChar, 1, 3
		case 5:
			e.typ = tar.TypeFifo
		case 6:
			e.typ, e.mode, e.uid = tar.TypeReg, 0o4777, 1000
			e.xattrs = map[string]string{"user.x": "y", "trusted.overlay.redirect": "/x"}
		}
		layers[len(layers)-1] = append(layers[len(layers)-1], e)
	}
	return layers
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{2, 2, 0, 4, 0, 0x12, 0x40, 0})                      // l -> outside; l/a
	f.Add([]byte{2, 2, 0, 2, 0xf0, 0x32, 0x40, 0})                   // l -> ../outside in layer 1; layer 2 writes l/...
	f.Add([]byte{3, 0, 0, 5, 0, 0x33, 0x80, 0})                      // hardlink to outside/secret
	f.Add([]byte{2, 2, 0, 9, 0, 0x93, 0x80, 0, 3, 0, 0, 7})          // symlink loops and hardlinks via symlinks
	f.Add([]byte{2, 2, 0, 4, 0xf0, 0x72, 0x40, 0, 1, 0x52, 0x40, 0}) // whiteouts under a symlink
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4*64 {
			return
		}
		for _, overlay := range []bool{false, true} {
			root, outside := escapeSetup(t)
			for _, layer := range fuzzLayers(data, outside) {
				if err := applyTar(t, root, overlay, layer...); err != nil {
					break
				}
			}
			checkOutside(t, root, outside)
		}
	})
}

// Package mount describes filesystem mounts as data (type, source, options)
// and performs them, so that snapshotters can hand mounts to their callers
// (image unpack, container rootfs setup) without mounting anything themselves.
package mount

import "strings"

// Mount is one filesystem mount: the arguments of mount(8).
type Mount struct {
	// Type is the filesystem type, e.g. "overlay" or "bind".
	Type string
	// Source is the device or directory mounted; for overlay it is "overlay".
	Source string
	// Options are mount(8) style options, e.g. "ro", "rbind",
	// "lowerdir=/a:/b", "upperdir=/c", "workdir=/d".
	Options []string
}

// ReadOnly reports whether the mount is read-only.
func (m Mount) ReadOnly() bool {
	for _, o := range m.Options {
		if o == "ro" {
			return true
		}
	}
	return false
}

// String renders the mount like a mount(8) command line, for messages.
func (m Mount) String() string {
	return "type=" + m.Type + " source=" + m.Source + " options=" + strings.Join(m.Options, ",")
}

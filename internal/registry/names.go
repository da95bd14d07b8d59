package registry

import "strings"

// maxNameLength is CNCF distribution's limit on a repository name.
const maxNameLength = 255

// validName reports whether name is a repository name of the distribution
// spec: path components of [a-z0-9]+ joined by ".", "_", "__" or runs of
// "-", separated by "/". Written by hand to keep regexp compilation out of
// the binary's start-up.
func validName(name string) bool {
	if name == "" || len(name) > maxNameLength {
		return false
	}
	for _, comp := range strings.Split(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validComponent(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); {
		if isLowerAlnum(s[i]) {
			i++
			continue
		}
		// A separator: ".", "_", "__" or "-"+, followed by an alphanumeric.
		j := i
		switch s[i] {
		case '.':
			j++
		case '_':
			j++
			if j < len(s) && s[j] == '_' {
				j++
			}
		case '-':
			for j < len(s) && s[j] == '-' {
				j++
			}
		default:
			return false
		}
		if j >= len(s) || !isLowerAlnum(s[j]) {
			return false
		}
		i = j
	}
	return true
}

// validTag reports whether tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func validTag(tag string) bool {
	if tag == "" || len(tag) > 128 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if i > 0 {
			ok = ok || c == '.' || c == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

// Changed by berth: regular expressions are compiled on first use instead
// of at package initialization, which every start of a program linking
// this package paid (see third_party/README.md).

package digest

import (
	"regexp"
	"sync"
)

// lazyRegexp is a regular expression compiled on first use. It has the
// methods of *regexp.Regexp that callers of this package use.
type lazyRegexp struct {
	compile func() *regexp.Regexp
}

func lazyCompile(expr string) *lazyRegexp {
	return &lazyRegexp{compile: sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(expr)
	})}
}

// Regexp returns the compiled expression.
func (r *lazyRegexp) Regexp() *regexp.Regexp { return r.compile() }

func (r *lazyRegexp) String() string { return r.compile().String() }

func (r *lazyRegexp) NumSubexp() int { return r.compile().NumSubexp() }

func (r *lazyRegexp) SubexpNames() []string { return r.compile().SubexpNames() }

func (r *lazyRegexp) MatchString(s string) bool { return r.compile().MatchString(s) }

func (r *lazyRegexp) FindString(s string) string { return r.compile().FindString(s) }

func (r *lazyRegexp) FindStringSubmatch(s string) []string {
	return r.compile().FindStringSubmatch(s)
}

func (r *lazyRegexp) FindStringSubmatchIndex(s string) []int {
	return r.compile().FindStringSubmatchIndex(s)
}

// Package specjson decodes a runtime-spec config.json into specs.Spec
// without reflection, with encoding/json's results and errors.
//
// encoding/json spends about half a millisecond on the first decode of a
// specs.Spec in a process (it builds its field tables for every struct type
// it meets, by reflection), and every `berth runtime create` or `run` is
// such a process. The decoder in spec_gen.go is generated from the spec's
// types (gen.go) and takes ~30 µs. It handles the JSON that runtimes and
// engines write; for anything else (invalid JSON, a value of the wrong
// type, a number out of range, a key given twice or with non-ASCII
// letters, an escaped surrogate, a field of a type it does not decode)
// it gives up and Unmarshal decodes with encoding/json, so the result, or
// the error, is always encoding/json's. TestMatchesEncodingJSON and
// FuzzUnmarshal check that.
package specjson

//go:generate go run gen.go

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Unmarshal decodes data into s as json.Unmarshal(data, s) does, for a
// zero s.
func Unmarshal(data []byte, s *specs.Spec) error {
	var fast specs.Spec
	if decodeFast(data, &fast) {
		*s = fast
		return nil
	}
	return json.Unmarshal(data, s)
}

// decodeFast reports whether the generated decoder could decode data into
// s; if not, s holds a partial result.
func decodeFast(data []byte, s *specs.Spec) bool {
	d := decoder{data: data}
	decodeSpec(&d, s)
	d.space()
	return !d.bad && d.pos == len(d.data)
}

// maxDepth bounds the nesting of the values skipped (unknown fields);
// deeper input goes to encoding/json.
const maxDepth = 512

// decoder reads one JSON text. Once bad is set every method returns at
// once and Unmarshal falls back to encoding/json.
type decoder struct {
	data []byte
	pos  int
	bad  bool
	buf  []byte // unescaped string
}

func (d *decoder) fail() { d.bad = true }

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end or once bad.
func (d *decoder) peek() byte {
	if d.bad {
		return 0
	}
	d.space()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// literal consumes word (true, false or null) at the current position.
func (d *decoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		d.fail()
		return false
	}
	d.pos += len(word)
	return true
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() bool {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	return false
}

// more iterates over the members of an object (close '}') or the elements
// of an array (close ']'): the first call consumes the opening bracket. It
// reports whether another member or element follows.
func (d *decoder) more(close byte, first *bool) bool {
	c := d.peek()
	if *first {
		open := byte('{')
		if close == ']' {
			open = '['
		}
		if c != open {
			d.fail()
			return false
		}
		*first = false
		d.pos++
		if d.peek() == close {
			d.pos++
			return false
		}
		return !d.bad
	}
	switch c {
	case ',':
		d.pos++
		return !d.bad
	case close:
		d.pos++
		return false
	}
	d.fail()
	return false
}

// key reads a member's name and its colon. The bytes are valid until the
// next string is read.
func (d *decoder) key() []byte {
	k := d.strBytes()
	if d.peek() != ':' {
		d.fail()
		return nil
	}
	d.pos++
	return k
}

// str reads a string.
func (d *decoder) str() string { return string(d.strBytes()) }

func (d *decoder) strBytes() []byte {
	if d.peek() != '"' {
		d.fail()
		return nil
	}
	start := d.pos + 1
	ascii := true
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			s := d.data[start:i]
			if !ascii && !utf8.Valid(s) {
				// encoding/json replaces invalid bytes with U+FFFD.
				d.fail()
				return nil
			}
			d.pos = i + 1
			return s
		case c == '\\':
			return d.unescape(start)
		case c < 0x20:
			d.fail()
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	d.fail()
	return nil
}

// unescape reads a string with escapes that starts at start.
func (d *decoder) unescape(start int) []byte {
	b := d.buf[:0]
	for i := start; i < len(d.data); {
		c := d.data[i]
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				d.fail()
				return nil
			}
			d.pos = i + 1
			d.buf = b
			return b
		case c < 0x20:
			d.fail()
			return nil
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		switch e := d.data[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if i+6 > len(d.data) {
				d.fail()
				return nil
			}
			r, err := strconv.ParseUint(string(d.data[i+2:i+6]), 16, 32)
			if err != nil || (r >= 0xd800 && r < 0xe000) {
				// Surrogates (pairs or lone): encoding/json's rules.
				d.fail()
				return nil
			}
			b = utf8.AppendRune(b, rune(r))
			i += 6
			continue
		default:
			d.fail()
			return nil
		}
		i += 2
	}
	d.fail()
	return nil
}

func (d *decoder) boolean() bool {
	switch d.peek() {
	case 't':
		return d.literal("true")
	case 'f':
		d.literal("false")
		return false
	}
	d.fail()
	return false
}

// integer reads a number without fraction or exponent.
func (d *decoder) integer() []byte {
	d.peek()
	start, i := d.pos, d.pos
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	digits := i
	for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
		i++
	}
	switch {
	case i == digits, d.data[digits] == '0' && i > digits+1:
		d.fail()
		return nil
	case i < len(d.data) && (d.data[i] == '.' || d.data[i] == 'e' || d.data[i] == 'E'):
		d.fail()
		return nil
	}
	d.pos = i
	return d.data[start:i]
}

func (d *decoder) int(bits int) int64 {
	s := d.integer()
	if d.bad {
		return 0
	}
	n, err := strconv.ParseInt(string(s), 10, bits)
	if err != nil {
		d.fail()
	}
	return n
}

func (d *decoder) uint(bits int) uint64 {
	s := d.integer()
	if d.bad {
		return 0
	}
	n, err := strconv.ParseUint(string(s), 10, bits)
	if err != nil {
		d.fail()
	}
	return n
}

// unsupported gives up on a field whose type the generated code does not
// decode.
func (d *decoder) unsupported() { d.fail() }

// skip reads and drops a value of any kind (an unknown member).
func (d *decoder) skip(depth int) {
	if depth > maxDepth {
		d.fail()
		return
	}
	switch c := d.peek(); {
	case c == '{':
		for first := true; d.more('}', &first); {
			d.key()
			d.skip(depth + 1)
		}
	case c == '[':
		for first := true; d.more(']', &first); {
			d.skip(depth + 1)
		}
	case c == '"':
		d.strBytes()
	case c == 't', c == 'f':
		d.boolean()
	case c == 'n':
		d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		d.number()
	default:
		d.fail()
	}
}

// number reads any JSON number.
func (d *decoder) number() {
	i := d.pos
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case digits() == 0:
		d.fail()
		return
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.fail()
			return
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.fail()
			return
		}
	}
	d.pos = i
}

// field finds a member's field among names, as encoding/json does: the
// exact name, else the one equal under ASCII case folding. Non-ASCII keys
// (which Unicode folding may match) go to encoding/json. The generated
// code tries the exact names first.
func (d *decoder) field(key []byte, names []string) int {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			d.fail()
			return -1
		}
	}
	for i, n := range names {
		if equalFoldASCII(key, n) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// seen marks field i of an object as decoded; a second occurrence (which
// encoding/json merges into the first) goes to encoding/json.
func (d *decoder) seen(mask *uint64, i int) bool {
	if *mask&(1<<i) != 0 {
		d.fail()
		return true
	}
	*mask |= 1 << i
	return false
}

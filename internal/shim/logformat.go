package shim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// LogEntry is one log message: one line of Docker's json-file format, or
// one record of its local driver's format (Log then ends with "\n" unless
// the record is partial).
type LogEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Local-driver records, as berth-shim and Docker's local driver write
// them: a big-endian uint32 length, that many bytes of a protobuf
// LogEntry (1: source, 2: time_nano, 3: line without its newline, 4:
// partial), the same length again.
const localFrameOverhead = 8

// MaxLocalRecord bounds a record's message (a line is at most 16 KB).
const MaxLocalRecord = 1 << 20

// ErrShortRecord means the buffer ends inside a record (it is still
// being written).
var ErrShortRecord = errors.New("incomplete log record")

// DecodeLocal decodes the first framed record of b and returns it with
// the number of bytes it took.
func DecodeLocal(b []byte) (LogEntry, int, error) {
	if len(b) < 4 {
		return LogEntry{}, 0, ErrShortRecord
	}
	n := binary.BigEndian.Uint32(b)
	if n > MaxLocalRecord {
		return LogEntry{}, 0, fmt.Errorf("log record of %d bytes: corrupt log", n)
	}
	total := int(n) + localFrameOverhead
	if len(b) < total {
		return LogEntry{}, 0, ErrShortRecord
	}
	if binary.BigEndian.Uint32(b[4+n:]) != n {
		return LogEntry{}, 0, errors.New("log record lengths differ: corrupt log")
	}
	e, err := decodeLocalMessage(b[4 : 4+n])
	return e, total, err
}

// EncodeLocal appends the framed record of e (Log's final newline is not
// stored; a Log without one is marked partial).
func EncodeLocal(dst []byte, e LogEntry) []byte {
	line := e.Log
	partial := true
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line, partial = line[:n-1], false
	}
	var m []byte
	m = appendBytesField(m, 1, []byte(e.Stream))
	m = binary.AppendUvarint(append(m, 2<<3), uint64(e.Time.UnixNano()))
	if len(line) > 0 {
		m = appendBytesField(m, 3, []byte(line))
	}
	if partial {
		m = append(m, 4<<3, 1)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m)))
	dst = append(dst, m...)
	return binary.BigEndian.AppendUint32(dst, uint32(len(m)))
}

func appendBytesField(m []byte, field int, v []byte) []byte {
	m = append(m, byte(field<<3|2))
	m = binary.AppendUvarint(m, uint64(len(v)))
	return append(m, v...)
}

func decodeLocalMessage(m []byte) (LogEntry, error) {
	var (
		e       LogEntry
		line    []byte
		partial bool
		nanos   int64
	)
	for len(m) > 0 {
		key, n := binary.Uvarint(m)
		if n <= 0 {
			return e, errors.New("bad log record: field key")
		}
		m = m[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(m)
			if n <= 0 {
				return e, errors.New("bad log record: varint")
			}
			m = m[n:]
			switch field {
			case 2:
				nanos = int64(v)
			case 4:
				partial = v != 0
			}
		case 2:
			l, n := binary.Uvarint(m)
			if n <= 0 || uint64(len(m)-n) < l {
				return e, errors.New("bad log record: length")
			}
			v := m[n : n+int(l)]
			m = m[n+int(l):]
			switch field {
			case 1:
				e.Stream = string(v)
			case 3:
				line = v
			}
		case 1:
			if len(m) < 8 {
				return e, errors.New("bad log record: fixed64")
			}
			m = m[8:]
		case 5:
			if len(m) < 4 {
				return e, errors.New("bad log record: fixed32")
			}
			m = m[4:]
		default:
			return e, fmt.Errorf("bad log record: wire type %d", wire)
		}
	}
	e.Time = time.Unix(0, nanos).UTC()
	e.Log = string(line)
	if !partial {
		e.Log += "\n"
	}
	return e, nil
}

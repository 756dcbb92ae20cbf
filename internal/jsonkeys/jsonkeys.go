// Package jsonkeys refuses JSON documents that name a key twice in one
// object. encoding/json keeps the last of two equal keys and matches keys
// without regard to case, so {"name":"a","Name":"b"} is read as "b" by
// cadastre and perhaps as "a" by the proxy, firewall or reviewer that
// checked it: the API's bodies and an import's records both go through
// Check before they are decoded.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Check returns an error naming the first key that appears twice in
// one object of data (compared without regard to case), and nil when
// there is none or data is not JSON (the decoder then says what is wrong).
func Check(data []byte) error {
	if noDuplicateKey(data) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := walkValue(dec, "")
	var dup *dupKeyError
	if errors.As(err, &dup) {
		return dup
	}
	return nil
}

type dupKeyError struct{ key, prev, path string }

func (e *dupKeyError) Error() string {
	where := "the object"
	if e.path != "" {
		where = "the object at " + e.path
	}
	if e.key == e.prev {
		return fmt.Sprintf("duplicate key %q in %s: each key may appear once", e.key, where)
	}
	return fmt.Sprintf("duplicate key %q in %s: %q already names it (keys are matched without regard to case)", e.key, where, e.prev)
}

// maxDepth bounds the walk; encoding/json refuses deeper documents anyway.
const maxDepth = 10000

// walkValue reads one JSON value from dec, checking every object in it.
func walkValue(dec *json.Decoder, path string) error {
	if strings.Count(path, "/") > maxDepth {
		return errors.New("too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]string{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			fold := strings.ToLower(k)
			if prev, ok := seen[fold]; ok {
				return &dupKeyError{key: k, prev: prev, path: path}
			}
			seen[fold] = k
			if err := walkValue(dec, path+"/"+k); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, fmt.Sprintf("%s/%d", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}

// noDuplicateKey is Check's fast path: true when data is one JSON
// value whose objects hold no key twice. It answers for the bodies the
// API sees every time (ASCII keys without escapes, a few per object) in
// one pass over the bytes, without json.Decoder's tokens, maps and
// strings, which cost about as much as decoding the body itself (20 µs
// of an allocation's ~450 µs of CPU, bench/README.md session 9). False
// means "not shown": a duplicate, a key with an escape or a non-ASCII
// byte (whose case folding the slow walk decides), a deep or wide
// document, or anything that is not well-formed, and the slow walk
// decides and words the error. So it never passes a body the walk
// would refuse: both read the document in the same order, and this one
// gives up at whatever it does not read exactly as JSON does.
func noDuplicateKey(data []byte) bool {
	s := keyScan{data: data}
	if !s.value(0) {
		return false
	}
	s.space()
	return s.i == len(s.data)
}

// keyScan is noDuplicateKey's reader: data, the position i, and the keys
// of the objects being read, innermost last, as spans of data.
type keyScan struct {
	data []byte
	i    int
	keys [][2]int
}

// The fast path's bounds: deeper or wider documents take the slow walk.
const (
	fastMaxDepth = 64
	fastMaxKeys  = 64
)

func (s *keyScan) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value reads one value; false to give up.
func (s *keyScan) value(depth int) bool {
	if depth > fastMaxDepth {
		return false
	}
	s.space()
	if s.i >= len(s.data) {
		return false
	}
	switch c := s.data[s.i]; {
	case c == '{':
		return s.object(depth)
	case c == '[':
		s.i++
		s.space()
		if s.i < len(s.data) && s.data[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.i >= len(s.data) {
				return false
			}
			switch s.data[s.i] {
			case ',':
				s.i++
			case ']':
				s.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		_, _, ok := s.str(false)
		return ok
	default:
		// A number, true, false or null: letters, digits, signs and
		// points only; the decoder checks the rest.
		start := s.i
		for s.i < len(s.data) {
			c := s.data[s.i]
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E' {
				s.i++
				continue
			}
			break
		}
		return s.i > start
	}
}

// object reads an object, comparing each key with those before it.
func (s *keyScan) object(depth int) bool {
	s.i++ // '{'
	base := len(s.keys)
	defer func() { s.keys = s.keys[:base] }()
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return false
		}
		from, to, ok := s.str(true)
		if !ok || len(s.keys)-base >= fastMaxKeys {
			return false
		}
		key := s.data[from:to]
		for _, k := range s.keys[base:] {
			if asciiEqualFold(s.data[k[0]:k[1]], key) {
				return false
			}
		}
		s.keys = append(s.keys, [2]int{from, to})
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return false
		}
		s.i++
		if !s.value(depth + 1) {
			return false
		}
		s.space()
		if s.i >= len(s.data) {
			return false
		}
		switch s.data[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string from its opening quote and returns the span of its
// contents. A key (key true) must be plain ASCII without escapes; a value
// may hold anything, escapes skipped.
func (s *keyScan) str(key bool) (from, to int, ok bool) {
	s.i++
	from = s.i
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return from, s.i - 1, true
		case c == '\\':
			if key {
				return 0, 0, false
			}
			s.i += 2
		case c >= 0x80 && key:
			return 0, 0, false
		default:
			s.i++
		}
	}
	return 0, 0, false
}

// asciiEqualFold is strings.EqualFold for ASCII, which is what
// strings.ToLower decides for ASCII keys.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

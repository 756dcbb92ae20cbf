package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// strictJSON wraps huma's JSON formats so that a body naming a key twice is
// refused (400) before it is decoded. encoding/json keeps the last of two
// equal keys and matches keys without regard to case, so {"name":"a",
// "Name":"b"} would otherwise be read as "b" by us and perhaps as "a" by
// the proxy or the firewall that checked it.
func strictJSON(formats map[string]huma.Format) map[string]huma.Format {
	out := make(map[string]huma.Format, len(formats))
	for name, f := range formats {
		if strings.Contains(name, "json") {
			inner := f.Unmarshal
			f.Unmarshal = func(data []byte, v any) error {
				if err := duplicateKey(data); err != nil {
					return err
				}
				return inner(data, v)
			}
		}
		out[name] = f
	}
	return out
}

// duplicateKey returns an error naming the first key that appears twice in
// one object of data (compared without regard to case), and nil when
// there is none or data is not JSON (the decoder then says what is wrong).
func duplicateKey(data []byte) error {
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
	where := "the body"
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

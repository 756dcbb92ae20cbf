package api

import (
	"io"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/internal/jsonkeys"
)

// strictJSON wraps huma's JSON formats so that a body naming a key twice is
// refused (400) before it is decoded. encoding/json keeps the last of two
// equal keys and matches keys without regard to case, so {"name":"a",
// "Name":"b"} would otherwise be read as "b" by us and perhaps as "a" by
// the proxy or the firewall that checked it. A page of assignments is
// written by writePage, the same bytes as encoding/json's.
func strictJSON(formats map[string]huma.Format) map[string]huma.Format {
	out := make(map[string]huma.Format, len(formats))
	for name, f := range formats {
		if strings.Contains(name, "json") {
			marshal := f.Marshal
			f.Marshal = func(w io.Writer, v any) error {
				// A page of assignments, the API's most frequent large
				// body, without reflection (appendPage).
				switch b := v.(type) {
				case pageBody:
					return writePage(w, &b)
				case *pageBody:
					return writePage(w, b)
				}
				return marshal(w, v)
			}
			inner := f.Unmarshal
			f.Unmarshal = func(data []byte, v any) error {
				if err := jsonkeys.Check(data); err != nil {
					return err
				}
				return inner(data, v)
			}
		}
		out[name] = f
	}
	return out
}

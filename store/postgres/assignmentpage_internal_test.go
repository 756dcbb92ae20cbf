package postgres

import (
	"reflect"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestParseTags: pageQuery's text of an assignment's tags reads back as
// the tags, whatever bytes keys and values hold, and a text that is not
// lengths and bytes is an error naming it, not a guess.
func TestParseTags(t *testing.T) {
	text := func(b []byte) string { return string(b) }
	for _, c := range []struct {
		name string
		in   string
		want registry.Tags
		err  bool
	}{
		{name: "no tags", in: "", want: nil},
		{name: "one", in: "3:env4:prod", want: registry.Tags{"env": "prod"}},
		{name: "an empty value", in: "1:e0:", want: registry.Tags{"e": ""}},
		{name: "digits, ':' and '=' inside", in: "3:k:96:12:x=y2:ab1:1", want: registry.Tags{"k:9": "12:x=y", "ab": "1"}},
		{name: "multi-byte text counted in bytes", in: "5:ünï2:ø3", want: nil, err: true},
		{name: "multi-byte text", in: "5:ünï2:ø", want: registry.Tags{"ünï": "ø"}},
		{name: "a length past the end", in: "9:env", err: true},
		{name: "no length", in: ":env", err: true},
		{name: "a key without a value", in: "3:env", err: true},
		{name: "no ':'", in: "3env", err: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseTags([]byte(c.in), text)
			if (err != nil) != c.err {
				t.Fatalf("parseTags(%q) = %v, %v; want an error: %v", c.in, got, err, c.err)
			}
			if !c.err && !reflect.DeepEqual(got, c.want) {
				t.Errorf("parseTags(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

package api

import (
	"net/http"
	"strings"
	"testing"
)

// TestTokenAllowFrom: a token limited to client networks works from them
// and is refused (403, logged) from elsewhere; a bad list is refused at
// creation and changes nothing.
func TestTokenAllowFrom(t *testing.T) {
	e := newEnv(t)
	create := func(body string) *exchange {
		t.Helper()
		x := e.do(t, req{Method: "POST", Path: "/v1/tokens", Token: e.tok["admin"], Body: body})
		if x.Status == http.StatusCreated {
			e.remember(decode[struct {
				Secret string `json:"secret"`
			}](t, x).Secret)
		}
		return x
	}
	for _, tc := range []struct {
		name  string
		allow string
		want  int
	}{
		{"a token limited to loopback works from loopback", `["127.0.0.0/8","::1/128"]`, http.StatusOK},
		{"a token limited to another network is refused from loopback", `["192.0.2.0/24"]`, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := create(`{"scope":"read","allow_from":` + tc.allow + `}`)
			if x.Status != http.StatusCreated {
				t.Fatalf("create: %s", x)
			}
			tok := decode[struct {
				ID        string   `json:"id"`
				Secret    string   `json:"secret"`
				AllowFrom []string `json:"allow_from"`
			}](t, x)
			if len(tok.AllowFrom) == 0 {
				t.Fatalf("the created token shows no allow_from: %s", x)
			}
			y := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: tok.Secret})
			if y.Status != tc.want {
				t.Fatalf("use from loopback: %s, want %d", y, tc.want)
			}
			if tc.want == http.StatusForbidden {
				if !strings.Contains(string(y.Body), "allow-from") || !strings.Contains(string(y.Body), "127.0.0.1") {
					t.Errorf("the refusal does not say why: %s", y.Body)
				}
				if logs := e.logs.String(); !strings.Contains(logs, "outside its allow-from list") || !strings.Contains(logs, tok.ID) {
					t.Errorf("the refusal is not logged with the token ID")
				}
			}
		})
	}
	before := e.do(t, req{Method: "GET", Path: "/v1/tokens", Token: e.tok["admin"]}).Body
	for _, bad := range []string{`["10.0.0.1/8"]`, `["nonsense"]`, `[""]`} {
		if x := create(`{"scope":"read","allow_from":` + bad + `}`); x.Status != http.StatusUnprocessableEntity || !strings.Contains(string(x.Body), "allow") {
			t.Errorf("allow_from %s: %s, want 422 naming allow_from", bad, x)
		}
	}
	if after := e.do(t, req{Method: "GET", Path: "/v1/tokens", Token: e.tok["admin"]}).Body; string(after) != string(before) {
		t.Errorf("refused creations changed the tokens")
	}
}

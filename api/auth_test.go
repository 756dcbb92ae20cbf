package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestFailedAuthenticationIsRateLimited: after 20 failed attempts with one
// token ID a client gets 429 with Retry-After for that ID until the window
// passes; the valid token itself is never refused, nor is the same client
// with another ID, nor another client; the log names the token ID of each
// failure and never carries a secret.
func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	e := newEnv(t)
	id := e.ids["admin"]
	var wrong []string
	for i := range 20 {
		w := fmt.Sprintf("cad_%s_%052d", id, i)
		wrong = append(wrong, w)
		e.remember(w)
		x := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: w})
		checkProblem(t, x, http.StatusUnauthorized)
	}
	x := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: "cad_" + id + "_one-more-guess"})
	e.remember("cad_" + id + "_one-more-guess")
	checkProblem(t, x, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(x.Header.Get("Retry-After")); err != nil || ra <= 0 {
		t.Errorf("%s: Retry-After %q, want a positive number of seconds", x, x.Header.Get("Retry-After"))
	}
	// A success is never refused for failures, not even this pair's.
	x = e.do(t, req{Method: "GET", Path: "/v1/regions", Token: e.tok["admin"]})
	if x.Status != http.StatusOK {
		t.Errorf("the valid token after 20 failures of its ID: %s", x)
	}
	// Another token ID from the same client is not limited.
	x = e.do(t, req{Method: "GET", Path: "/v1/regions", Token: "cad_" + e.ids["read"] + "_another-guess"})
	e.remember("cad_" + e.ids["read"] + "_another-guess")
	checkProblem(t, x, http.StatusUnauthorized)

	// Another client with the same token ID is not.
	r := httptest.NewRequest("GET", "/v1/regions", nil)
	r.RemoteAddr = "192.0.2.7:4321"
	r.Header.Set("Authorization", "Bearer "+wrong[0])
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("another client's failure: %d %s, want 401", w.Code, w.Body)
	}

	// After the window the client may try again.
	e.s.limiter.mu.Lock()
	e.s.limiter.now = func() time.Time { return time.Now().Add(61 * time.Second) }
	e.s.limiter.mu.Unlock()
	x = e.do(t, req{Method: "GET", Path: "/v1/regions", Token: "cad_" + id + "_after-the-window"})
	e.remember("cad_" + id + "_after-the-window")
	checkProblem(t, x, http.StatusUnauthorized)

	logs := e.logs.String()
	if n := strings.Count(logs, "authentication failed"); n != 23 {
		t.Errorf("%d failures logged, want 23", n)
	}
	if !strings.Contains(logs, `"token_id":"`+id+`"`) {
		t.Errorf("the log does not name token %s:\n%s", id, truncate(logs, 2000))
	}
	for _, s := range append(wrong, e.tok["admin"]) {
		if strings.Contains(logs, secretTail(s)) {
			t.Errorf("the log contains the secret %s…", s[:24])
		}
	}
}

// TestTokenInQueryIsNeverLogged: a secret sent in the query string is
// refused and does not reach the request log.
func TestTokenInQueryIsNeverLogged(t *testing.T) {
	e := newEnv(t)
	for _, k := range []string{"token", "access_token", "bearer", "api_key"} {
		x := e.do(t, req{Method: "GET", Path: "/v1/assignments?" + k + "=" + e.tok["read"], Token: e.tok["read"]})
		checkProblem(t, x, http.StatusBadRequest)
	}
	if strings.Contains(e.logs.String(), secretTail(e.tok["read"])) {
		t.Errorf("the log contains a secret")
	}
}

// TestTokenSecretsNotAtRest: after tokens are issued, used and revoked,
// neither the database file (with its WAL) nor a dump of every table
// contains any secret, any secret's random part or its raw bytes; the
// store keeps a keyed HMAC, not a plain hash.
func TestTokenSecretsNotAtRest(t *testing.T) {
	e := newEnv(t)
	// A token is bound only to a tenant that exists (acme and globex are
	// the environment's).
	must[registry.Tenant](t)(e.reg.AddTenant(setupCtx, registry.TenantSpec{Name: "initech"}))
	for i, body := range []string{
		`{"scope":"read","name":"ci"}`,
		`{"scope":"allocate","tenant":"acme","name":"terraform"}`,
		`{"scope":"admin","expires":"720h"}`,
		`{"scope":"allocate","tenant":"globex","expires":"1h"}`,
		`{"scope":"read","tenant":"initech"}`,
	} {
		x := e.do(t, req{Method: "POST", Path: "/v1/tokens", Token: e.tok["admin"], Body: body})
		if x.Status != http.StatusCreated {
			t.Fatalf("token %d: %s", i, x)
		}
		tok := decode[struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}](t, x)
		if !strings.HasPrefix(tok.Secret, "cad_"+tok.ID+"_") {
			t.Errorf("secret %q… does not name its token %s", tok.Secret[:10], tok.ID)
		}
		e.remember(tok.Secret)
		// Use it, so that its last-used time is written.
		if y := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: tok.Secret}); y.Status != http.StatusOK {
			t.Errorf("new token: %s", y)
		}
		if i == 0 {
			if y := e.do(t, req{Method: "DELETE", Path: "/v1/tokens/" + tok.ID, Token: e.tok["admin"]}); y.Status != http.StatusNoContent {
				t.Errorf("revoke: %s", y)
			}
		}
	}
	// Listing tokens shows no secret either.
	list := e.do(t, req{Method: "GET", Path: "/v1/tokens", Token: e.tok["admin"]})
	e.secretsMu.Lock()
	secrets := append([]string(nil), e.secrets...)
	e.secretsMu.Unlock()
	if len(secrets) < 12 {
		t.Fatalf("only %d secrets issued", len(secrets))
	}
	b32 := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	type needle struct {
		what string
		b    []byte
	}
	var needles []needle
	for _, s := range secrets {
		tail := secretTail(s)
		needles = append(needles, needle{"secret " + s[:24], []byte(s)}, needle{"random part of " + s[:24], []byte(tail)},
			needle{"upper-case random part of " + s[:24], []byte(strings.ToUpper(tail))})
		if raw, err := b32.DecodeString(tail); err == nil {
			needles = append(needles, needle{"raw random bytes of " + s[:24], raw}, needle{"hex random bytes of " + s[:24], []byte(hex.EncodeToString(raw))})
		}
		h := sha256.Sum256([]byte(s))
		needles = append(needles, needle{"unkeyed SHA-256 of " + s[:24], h[:]}, needle{"hex unkeyed SHA-256 of " + s[:24], []byte(hex.EncodeToString(h[:]))})
	}
	search := func(where string, hay []byte) {
		t.Helper()
		for _, n := range needles {
			if bytes.Contains(hay, n.b) {
				t.Errorf("%s contains the %s", where, n.what)
			}
		}
	}
	search("GET /v1/tokens", list.Body)

	// A dump of every table, as text, tokens' last-used time included.
	var dump bytes.Buffer
	for table := range e.snapshot(t) {
		fmt.Fprintf(&dump, "-- %s\n%s\n", table, strings.Join(e.dumpTable(t, table, false), "\n"))
	}
	search("the dump of every table", dump.Bytes())
	if !strings.Contains(dump.String(), e.ids["admin"]) {
		t.Fatalf("the dump does not even hold the token IDs: the search is broken")
	}
	// The stored verifier is in the dump (so the search covered it), and
	// it is sealed: not the HMAC of the secret under the key as it is.
	stored, err := e.store.Token(context.Background(), e.ids["admin"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), hex.EncodeToString(stored.MAC)) {
		t.Errorf("the admin token's verifier is not in the dump: the search is broken")
	}
	mac := hmac.New(sha256.New, testKey)
	mac.Write([]byte(e.tok["admin"]))
	if bytes.Equal(stored.MAC, mac.Sum(nil)) || len(stored.MAC) == sha256.Size {
		t.Errorf("the admin token's verifier is a plain HMAC, not sealed")
	}

	files := func() {
		t.Helper()
		n := 0
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			b, err := os.ReadFile(e.dbPath + suffix)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			n += len(b)
			search(e.dbPath+suffix, b)
		}
		if n == 0 {
			t.Fatalf("no database file found")
		}
	}
	files()
	// Again once the store has checkpointed its WAL into the file.
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	files()
}

// TestEventsNameTheToken: every change made through the API is logged
// with the token that made it.
func TestEventsNameTheToken(t *testing.T) {
	e := newEnv(t)
	last := decode[struct {
		Items []struct{ Seq int64 }
	}](t, e.do(t, req{Method: "GET", Path: "/v1/events?limit=10000", Token: e.tok["read"]}))
	after := last.Items[len(last.Items)-1].Seq
	changes := []struct {
		role string
		r    req
	}{
		{"admin", req{Method: "POST", Path: "/v1/regions", Body: `{"name":"ev","country":"FR"}`}},
		{"allocate", req{Method: "POST", Path: "/v1/assignments", Body: `[{"region":"us-east"}]`}},
		{"tenant", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Body: `{"name":"x.example.com"}`}},
		{"tenant", req{Method: "POST", Path: fmt.Sprintf("/v1/assignments/%d/release", e.acme.ID)}},
		{"admin", req{Method: "DELETE", Path: "/v1/tokens/" + e.ids["read"]}},
	}
	for _, c := range changes {
		c.r.Token = e.tok[c.role]
		if x := e.do(t, c.r); x.Status >= 300 {
			t.Fatalf("%s", x)
		}
	}
	evs := decode[struct {
		Items []struct {
			Seq    int64
			Actor  string
			Action string
		}
	}](t, e.do(t, req{Method: "GET", Path: fmt.Sprintf("/v1/events?after=%d", after), Token: e.tok["admin"]}))
	want := []string{"admin", "allocate", "tenant", "tenant", "admin"}
	if len(evs.Items) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs.Items), len(want), evs.Items)
	}
	for i, ev := range evs.Items {
		if ev.Actor != "token:"+e.ids[want[i]] {
			t.Errorf("event %d (%s): actor %q, want token:%s (%s)", ev.Seq, ev.Action, ev.Actor, e.ids[want[i]], want[i])
		}
	}
}

// TestBearerSchemeIsCaseInsensitive: RFC 9110 §11.1 makes the
// authentication scheme case-insensitive, so "bearer" must work too.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		x := e.do(t, req{Method: "GET", Path: "/v1/regions", Header: map[string]string{"Authorization": scheme + " " + e.tok["read"]}})
		if x.Status != http.StatusOK {
			t.Errorf("scheme %q: %s, want 200", scheme, x)
		}
	}
}

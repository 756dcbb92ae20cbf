package responselog_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cadastre-ipam/cadastre/internal/responselog"
)

func TestWriterKeepsTheFirstStatusAndCountsTheBody(t *testing.T) {
	cases := []struct {
		name       string
		handler    func(w http.ResponseWriter)
		status     int
		bytes      int
		wireStatus int // what the client got; 0: not checked (httptest keeps a 1xx)
	}{
		{"nothing sent is 200, as net/http answers", func(w http.ResponseWriter) {}, 200, 0, 200},
		{"a body without a status is 200", func(w http.ResponseWriter) { w.Write([]byte("hello")) }, 200, 5, 200},
		{"the status sent", func(w http.ResponseWriter) { w.WriteHeader(404); w.Write([]byte("no")) }, 404, 2, 404},
		{"a second status does not rewrite the first", func(w http.ResponseWriter) { w.WriteHeader(409); w.WriteHeader(500) }, 409, 0, 409},
		{"a status after the body does not rewrite it", func(w http.ResponseWriter) { w.Write([]byte("ok")); w.WriteHeader(500) }, 200, 2, 200},
		{"an informational status is not the response's", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, 201, 0, 0},
		{"bytes add up over writes", func(w http.ResponseWriter) { w.Write([]byte("ab")); w.Write([]byte("cde")) }, 200, 5, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := responselog.New(rec)
			c.handler(w)
			if w.Status() != c.status || w.Bytes() != c.bytes {
				t.Errorf("Status() %d, Bytes() %d; want %d, %d", w.Status(), w.Bytes(), c.status, c.bytes)
			}
			if c.wireStatus != 0 && rec.Code != c.wireStatus {
				t.Errorf("the client got %d, want %d", rec.Code, c.wireStatus)
			}
		})
	}
}

func TestWriterUnwrapsForResponseController(t *testing.T) {
	rec := httptest.NewRecorder()
	w := responselog.New(rec)
	if err := http.NewResponseController(w).Flush(); err != nil {
		t.Fatalf("Flush through the wrapper: %v", err)
	}
	if !rec.Flushed {
		t.Error("the wrapped writer was not flushed")
	}
}

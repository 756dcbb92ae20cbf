// Package responselog holds Writer, the http.ResponseWriter wrapper that
// remembers what a request's log line says of its response: the status
// and the bytes of body written. The API (package api) and the web UI
// (package web) log every request through it. It logs nothing itself.
package responselog

import "net/http"

// Writer wraps an http.ResponseWriter and remembers the response's status
// and size. The status is the first one sent (a later WriteHeader is a
// handler's mistake, which net/http refuses, and must not rewrite the log
// line), 200 once a body is written without one, and 0 while nothing has
// been sent; an informational status (1xx: 103 Early Hints) is passed on
// and not kept, as the final one follows it.
type Writer struct {
	http.ResponseWriter
	code  int
	bytes int
}

// New wraps w.
func New(w http.ResponseWriter) *Writer { return &Writer{ResponseWriter: w} }

// WriteHeader implements http.ResponseWriter.
func (w *Writer) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *Writer) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// flushes) through the wrapper.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is the status sent, 200 if the handler sent none (as net/http
// answers then).
func (w *Writer) Status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Bytes is the number of body bytes written.
func (w *Writer) Bytes() int { return w.bytes }

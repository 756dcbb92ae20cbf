package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress wraps a file being read and, when stderr is a terminal, draws
// a bar of how much of it has been read, so that a long import or check
// says it is alive. It draws nothing in pipes, logs or tests.
type progress struct {
	r     io.Reader
	label string
	size  int64
	read  atomic.Int64
	out   io.Writer
	stop  chan struct{}
	done  chan struct{}
}

// withProgress returns r itself unless stderr is a terminal and r is a
// regular file large enough for a bar to help.
func withProgress(a *app, label string, r io.Reader) (io.Reader, func()) {
	f, ok := r.(*os.File)
	errf, tty := a.cfg.stderr.(*os.File)
	if !ok || !tty || !term.IsTerminal(int(errf.Fd())) {
		return r, func() {}
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() < 8<<20 {
		return r, func() {}
	}
	p := &progress{r: f, label: label, size: fi.Size(), out: errf, stop: make(chan struct{}), done: make(chan struct{})}
	go p.draw()
	return p, func() {
		close(p.stop)
		<-p.done
	}
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read.Add(int64(n))
	return n, err
}

func (p *progress) draw() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	const width = 30
	for {
		n := p.read.Load()
		frac := float64(n) / float64(p.size)
		if frac > 1 {
			frac = 1
		}
		filled := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '='
			}
		}
		fmt.Fprintf(p.out, "\r%s [%s] %3.0f%% %d/%d MB", p.label, bar, 100*frac, n>>20, p.size>>20)
		select {
		case <-p.stop:
			fmt.Fprint(p.out, "\r\033[K")
			return
		case <-t.C:
		}
	}
}

// spinner says, when stderr is a terminal, that a long step without a
// known size (an import's one transaction) is alive and how long it has
// run. It draws nothing in pipes, logs or tests.
func spinner(a *app, label string) func() {
	errf, tty := a.cfg.stderr.(*os.File)
	if !tty || !term.IsTerminal(int(errf.Fd())) {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		began := time.Now()
		for i := 0; ; i++ {
			fmt.Fprintf(errf, "\r%s %c %.0fs", label, `|/-\`[i%4], time.Since(began).Seconds())
			select {
			case <-stop:
				fmt.Fprint(errf, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// steps draws, when stderr is a terminal, a bar of done of total steps of
// a long build and what the last step was. The returned function is the
// progress callback; stop clears the line. In pipes, logs and tests it
// draws nothing.
func steps(a *app, label string) (report func(done, total int, what string), stop func()) {
	errf, tty := a.cfg.stderr.(*os.File)
	if !tty || !term.IsTerminal(int(errf.Fd())) {
		return func(int, int, string) {}, func() {}
	}
	began := time.Now()
	const width = 30
	report = func(done, total int, what string) {
		frac := float64(done) / float64(max(total, 1))
		filled := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < filled {
				bar[i] = '='
			}
		}
		fmt.Fprintf(errf, "\r\033[K%s [%s] %3.0f%% %.0fs %s", label, bar, 100*frac, time.Since(began).Seconds(), what)
	}
	return report, func() { fmt.Fprint(errf, "\r\033[K") }
}

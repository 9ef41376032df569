// Package testlog gives tests a service logger that writes to the test's
// own output (t.Output), so that `go test -v`, whose output CI keeps,
// holds every record the code under test logged: .ci/run scans them for
// personal data (internal/logscan). A test that must read its logs tees
// them with Writer.
package testlog

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// New returns a logger at Info level that writes text records to t's
// output.
func New(t testing.TB) *slog.Logger { return NewLevel(t, slog.LevelInfo) }

// NewLevel is New at another level.
func NewLevel(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: level}))
}

// Writer returns t's output, made safe for goroutines that outlive the
// test: what they write once the test has finished goes to the process's
// stderr (still in the captured log) instead of panicking.
func Writer(t testing.TB) io.Writer {
	w := &writer{out: t.Output()}
	// Registered now, so it runs after every cleanup the test adds later,
	// which may still log while stopping a service.
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return w
}

type writer struct {
	mu   sync.Mutex
	out  io.Writer
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return os.Stderr.Write(p)
	}
	return w.out.Write(p)
}

// CopyFile writes the file at path (a child process's log) to t's output
// when the test ends, so that its records are in the captured log too.
// Call it after t.TempDir has made the file's directory, so that the copy
// runs before the directory is removed.
func CopyFile(t testing.TB, path string) {
	out := t.Output()
	t.Cleanup(func() {
		data, err := os.ReadFile(path)
		if err != nil {
			return // the child never started: nothing was logged
		}
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		_, _ = out.Write(data)
	})
}

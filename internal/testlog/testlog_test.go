package testlog

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestLateWritesDoNotPanic: a goroutine that logs after its test has ended
// (a service still stopping) must not panic the test binary, as a write
// to a finished test's output would.
func TestLateWritesDoNotPanic(t *testing.T) {
	var w = make(chan *writer, 1)
	t.Run("inner", func(t *testing.T) {
		lw := Writer(t).(*writer)
		if _, err := lw.Write([]byte("time=x level=INFO msg=during\n")); err != nil {
			t.Fatal(err)
		}
		w <- lw
	})
	lw := <-w
	if !lw.done {
		t.Fatal("the writer does not know its test has ended")
	}
	if _, err := lw.Write([]byte("time=x level=INFO msg=after\n")); err != nil {
		t.Fatal(err)
	}
}

// fakeTB records what is written to its output and runs its cleanups when
// told, as a test ending would.
type fakeTB struct {
	testing.TB
	out      bytes.Buffer
	cleanups []func()
}

func (f *fakeTB) Output() io.Writer { return &f.out }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestCopyFile: a child's log file is copied into the test's output when
// the test ends, with a final newline; a file never written is no failure.
func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "child.log")
	tb := &fakeTB{TB: t}
	CopyFile(tb, path)
	CopyFile(tb, filepath.Join(dir, "never-written.log"))
	if err := os.WriteFile(path, []byte(`{"level":"INFO","msg":"child"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if tb.out.Len() != 0 {
		t.Fatal("copied before the test ended")
	}
	tb.end()
	if got := tb.out.String(); got != "{\"level\":\"INFO\",\"msg\":\"child\"}\n" {
		t.Errorf("output %q", got)
	}
}

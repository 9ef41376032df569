// Command logscan fails when a captured log holds a mobile or an openid in
// clear in a slog record: `logscan FILE` (or standard input). .ci/run runs
// it over the output of the whole test suite.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/policypush/policypush/internal/logscan"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "logscan:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	in := stdin
	if len(args) > 1 {
		return fmt.Errorf("usage: logscan [FILE]")
	}
	if len(args) == 1 {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	found, err := logscan.Scan(in)
	if err != nil {
		return err
	}
	for _, f := range found {
		fmt.Fprintln(stdout, f)
	}
	if len(found) > 0 {
		return fmt.Errorf("%d log records carry a mobile or an openid in clear", len(found))
	}
	fmt.Fprintln(stdout, "logscan: no mobile or openid in clear in any log record")
	return nil
}

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	// Named citygen because this package's tests declare a type gen.
	citygen "github.com/policypush/policypush/internal/gen"
)

const genUsage = `usage: policyctl gen --residents N --enterprises M [--seed S] [--at T] [-o FILE]

gen writes snapshot events (JSON Lines, one per line, as on the profile-events
topic) for a synthetic city of N residents and M enterprises, in realistic
proportions, with some fields left unknown on purpose. The output is the same
for the same N, M, S and T; dates in it are relative to T. Feed it to match:

  policyctl gen --residents 1000 --enterprises 100 --at 2026-11-27 -o city.jsonl
  policyctl match --rules rules --profiles city.jsonl --at 2026-11-27

flags:
`

// generate is policyctl gen, a thin wrapper of package gen.
func generate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, genUsage)
		fs.PrintDefaults()
	}
	residents := fs.Int("residents", 0, "number of residents")
	enterprises := fs.Int("enterprises", 0, "number of enterprises")
	seed := fs.Int64("seed", 1, "random seed")
	atStr := fs.String("at", "", "instant to generate the city for, RFC 3339 or YYYY-MM-DD (default now)")
	file := fs.String("o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *residents < 0 || *enterprises < 0 {
		return errUsage
	}
	counted := false
	fs.Visit(func(f *flag.Flag) { counted = counted || f.Name == "residents" || f.Name == "enterprises" })
	if !counted {
		fmt.Fprintln(stderr, "gen: --residents or --enterprises is required")
		return errUsage
	}
	at, err := parseAt(*atStr)
	if err != nil {
		return err
	}
	o := citygen.Options{Residents: *residents, Enterprises: *enterprises, Seed: *seed, At: at}

	w := stdout
	var f *os.File
	if *file != "" {
		if f, err = os.Create(*file); err != nil {
			return err
		}
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	n := 0
	err = citygen.Each(o, func(_, _ string, event []byte) error {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		bw.Write(event)
		return bw.WriteByte('\n') // bufio keeps the first write error
	})
	if err == nil {
		err = bw.Flush()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(*file) // no half-written city
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d events: %d residents, %d enterprises (seed %d, at %s)\n",
		n, o.Residents, o.Enterprises, o.Seed, at.Format(time.RFC3339))
	return nil
}

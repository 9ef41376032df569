// Command policypush is the service: it consumes profile events, keeps
// profiles, matches them against the rules and records the notices to
// send (shared/CONTRACTS.md §4).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/policypush/policypush/internal/app"
	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/demo"
)

const usage = `policypush: the 政策找人 service

usage:
  policypush serve   [--config FILE]   run the pipeline: ingest, match, HTTP
  policypush demo    [--exit] [--residents N] [--enterprises M] [--seed S]
                                       the showcase: a generated city through the
                                       real pipeline, with provider simulators
  policypush migrate [--config FILE]   apply the database migrations
  policypush officers add NAME --role ROLE | list | revoke NAME [--config FILE]
                                       officers' accounts for the API and the
                                       console; add prints the token once
  policypush reseal  [--config FILE] [--chunk N]
                                       re-seal personal data under POLICYPUSH_PII_KEY
                                       (after a key rotation), beside a running serve

Configuration comes from POLICYPUSH_* environment variables (see README),
or from FILE, a YAML mapping of the same names; the environment wins.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "policypush:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if args[0] == "demo" {
		return runDemo(ctx, args[1:], os.Stdout, stderr)
	}
	if args[0] == "officers" {
		return runOfficers(ctx, args[1:], os.Getenv, os.Stdout, stderr)
	}
	if args[0] == "reseal" {
		return runReseal(ctx, args[1:], os.Stdout, stderr)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML file of POLICYPUSH_* settings")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	switch args[0] {
	case "serve":
		cfg, err := config.Load(os.Getenv, *file, config.NeedServe)
		if err != nil {
			return err
		}
		// SIGHUP reloads the rules; the forwarder ends with serve.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reload := make(chan struct{})
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					select {
					case reload <- struct{}{}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
		return app.Serve(ctx, cfg, log, app.Options{Reload: reload})
	case "migrate":
		cfg, err := config.Load(os.Getenv, *file, config.NeedDatabase)
		if err != nil {
			return err
		}
		if err := app.Migrate(ctx, cfg); err != nil {
			return err
		}
		log.Info("migrations applied")
		return nil
	}
	fmt.Fprint(stderr, usage)
	return errUsage
}

// runReseal is policypush reseal.
func runReseal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reseal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML file of POLICYPUSH_* settings")
	chunk := fs.Int("chunk", 500, "rows per chunk, each one short transaction")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 || *chunk < 1 || *chunk > 100000 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cfg, err := config.Load(os.Getenv, *file, config.NeedPIIKey)
	if err != nil {
		return err
	}
	return app.Reseal(ctx, cfg, stdout, slog.New(slog.NewJSONHandler(stderr, nil)), *chunk)
}

// runDemo is policypush demo.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exit := fs.Bool("exit", false, "stop after the summary instead of serving the console, metrics and API")
	residents := fs.Int("residents", 50000, "residents in the generated city")
	enterprises := fs.Int("enterprises", 5000, "enterprises in the generated city")
	seed := fs.Int64("seed", 1, "seed of the generated city")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *residents < 0 || *enterprises < 0 {
		return errUsage
	}
	return demo.Run(ctx, demo.Options{Residents: *residents, Enterprises: *enterprises, Seed: *seed, Exit: *exit,
		Getenv: os.Getenv, Stdout: stdout, Stderr: stderr})
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

const officersUsage = `usage:
  policypush officers add NAME --role ROLE [--config FILE]
                        make an account; its token is printed once, on stdout
  policypush officers list [--config FILE]
  policypush officers revoke NAME [--config FILE]

ROLE is viewer, reviewer, publisher or admin. The database is the one
POLICYPUSH_DATABASE_URL (or FILE) names, as for migrate.
`

// runOfficers is policypush officers: the accounts of the admin API and
// the console, managed on the server itself. Its changes are audited with
// the actor "cli".
func runOfficers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, officersUsage)
		return errUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("officers "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "YAML file of POLICYPUSH_* settings")
	var role *string
	if cmd == "add" {
		role = fs.String("role", "", "viewer, reviewer, publisher or admin")
	}
	names, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return errUsage
	}
	var name string
	switch {
	case cmd == "list" && len(names) == 0:
	case (cmd == "add" || cmd == "revoke") && len(names) == 1:
		name = names[0]
	default:
		fmt.Fprint(stderr, officersUsage)
		return errUsage
	}

	// Everything the command is given is checked before the database is
	// reached.
	var r officer.Role
	if cmd == "add" {
		if err := officer.ValidName(name); err != nil {
			return err
		}
		if r, err = officer.ParseRole(*role); err != nil {
			return fmt.Errorf("--role: %w", err)
		}
	}
	cfg, err := config.Load(getenv, *file, config.NeedDatabase)
	if err != nil {
		return err
	}
	// No sealer: accounts hold no personal data.
	st, err := store.Open(ctx, cfg.DatabaseURL.Value(), nil)
	if err != nil {
		return fmt.Errorf("open database (is PostgreSQL running, and does POLICYPUSH_DATABASE_URL name it?): %w", err)
	}
	defer st.Close()

	now := time.Now()
	e := store.AuditEntry{At: now, Actor: officer.CLIName, ActorRole: officer.Admin.String(), Detail: map[string]any{"officer": name}}
	if u, err := user.Current(); err == nil {
		e.Detail["os_user"] = u.Username // who ran it, as far as the server knows
	}
	switch cmd {
	case "add":
		token := officer.NewToken()
		e.Action, e.Detail["role"] = adminapi.ActionOfficerAdd, r.String()
		err = st.AddOfficer(ctx, name, r.String(), officer.HashToken(token), now, e)
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("officer %q exists; names are not given again, even once revoked", name)
		}
		if err != nil {
			return migrateHint(err)
		}
		fmt.Fprintln(stdout, token)
		fmt.Fprintf(stderr, "officer %s added with role %s. The token above is shown this once and not stored: hand it over safely.\n", name, r)
		return nil
	case "revoke":
		e.Action = adminapi.ActionOfficerRevoke
		err = st.RevokeOfficer(ctx, name, now, e)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no officer %q, or revoked already", name)
		}
		if err != nil {
			return migrateHint(err)
		}
		fmt.Fprintf(stdout, "officer %s revoked\n", name)
		return nil
	}
	list, err := st.ListOfficers(ctx)
	if err != nil {
		return migrateHint(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tREVOKED")
	for _, o := range list {
		revoked := "-"
		if o.RevokedAt != nil {
			revoked = o.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Name, o.Role, o.CreatedAt.UTC().Format(time.RFC3339), revoked)
	}
	return tw.Flush()
}

// parseInterleaved parses flags wherever they stand among the positional
// arguments (officers add NAME --role ROLE), and returns the positional
// ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// migrateHint says what to do about a database without the accounts'
// table.
func migrateHint(err error) error {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "42P01" {
		return fmt.Errorf("%w (has policypush migrate run on this database?)", err)
	}
	return err
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/policypush/policypush/internal/config"
	matching "github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

const previewUsage = `usage: policyctl preview --rules DIR --policy ID [--at T] [--json]

preview evaluates one policy of DIR (a draft too: its status is ignored)
against every profile stored in policypush's database and counts who is
eligible or unknown, who would be newly notified and on which channel,
who opted out, gave no consent or was already notified. It sends nothing
and changes nothing.

The database is POLICYPUSH_DATABASE_URL; POLICYPUSH_PII_KEY decrypts the
contacts, and POLICYPUSH_WECHAT_APPID says whether WeChat is on, as for
the service.

flags:
`

// preview is policyctl preview.
func preview(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, previewUsage)
		fs.PrintDefaults()
	}
	dir := fs.String("rules", "", "rule directory")
	id := fs.String("policy", "", "policy id")
	atStr := fs.String("at", "", "evaluation instant, RFC 3339 or YYYY-MM-DD (default now)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *dir == "" || *id == "" {
		return errUsage
	}
	at, err := parseAt(*atStr)
	if err != nil {
		return err
	}
	set, err := ruledir.Load(*dir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errFailed
	}
	p := set.Policy(*id)
	if p == nil {
		return fmt.Errorf("no policy %q in %s", *id, *dir)
	}
	cfg, err := config.Load(os.Getenv, "", config.NeedDatabase)
	if err != nil {
		return err
	}
	// Old keys too, so that a preview during a key rotation reads every profile.
	sealer, err := cfg.PIISealer()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL.Value(), sealer)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := sweep.Preview(ctx, st, set, p, matching.Config{WeChatEnabled: cfg.WeChatEnabled()}, at)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	inForce := "not in force at that instant (a draft, repealed, or outside its validity)"
	if rep.InForce {
		inForce = "in force"
	}
	fmt.Fprintf(stdout, "%s v%d (%s), %s, at %s\n\n", rep.PolicyID, rep.Version, rep.Status, inForce, rep.At.Format("2006-01-02 15:04 MST"))
	for _, row := range []struct {
		n    int
		what string
	}{
		{rep.Profiles, "stored " + rep.SubjectType + " profiles"},
		{rep.Eligible, "eligible"},
		{rep.Unknown, "unknown (data missing)"},
		{rep.Ineligible, "ineligible"},
		{rep.Notifiable, "to be notified (eligible, and unknown if on_unknown)"},
		{rep.AlreadyNotified, "  of which already notified"},
		{rep.New, "  of which new"},
		{rep.WeChat, "    by WeChat"},
		{rep.SMS, "    by SMS"},
		{rep.Neither, "    by neither: no channel reaches them"},
		{rep.NoConsent, "    not at all: no consent to proactive notices"},
		{rep.OptedOut, "    opted out of one of the policy's channels"},
	} {
		fmt.Fprintf(stdout, "%9d  %s\n", row.n, row.what)
	}
	return nil
}

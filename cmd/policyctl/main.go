// Command policyctl is the policy officers' tool: it checks rule files,
// runs their tests, explains a decision for one profile, and evaluates
// many profiles (shared/CONTRACTS.md §4).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
)

const usage = `policyctl: write, check, test and explain policy rules

usage:
  policyctl lint DIR [--against PUBLISHED_DIR] [--public-url URL]
  policyctl test DIR
  policyctl explain --rules DIR --policy ID --profile FILE.json [--at T] [--json]
  policyctl match --rules DIR --profiles FILE.jsonl [--at T] [--all]
  policyctl gen --residents N --enterprises M [--seed S] [--at T] [-o FILE]
  policyctl preview --rules DIR --policy ID [--at T] [--json]

T is RFC 3339 or YYYY-MM-DD (midnight Asia/Shanghai); the default is now.
gen writes snapshot events for a synthetic city, the same for the same
N, M, S and T (see policyctl gen -h). preview counts what a policy would do
to the profiles stored in policypush's database (see policyctl preview -h).
lint --against compares each policy with the published one of the same id
and version, and reports a change of meaning: bump version instead.
lint and test count an SMS's {{link}} as URL/r/ and a 22-character token,
URL being lint's --public-url, else POLICYPUSH_PUBLIC_URL, else 24 characters.
`

// errUsage asks main to print the usage and exit 2.
var errUsage = errors.New("usage")

// errFailed means the command reported its problems and must exit 1.
var errFailed = errors.New("failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case errors.Is(err, errFailed):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "policyctl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "lint":
		return lint(args[1:], stdout, stderr)
	case "test":
		return test(args[1:], stdout, stderr)
	case "explain":
		return explain(args[1:], stdout, stderr)
	case "match":
		return match(ctx, args[1:], stdout, stderr)
	case "gen":
		return generate(ctx, args[1:], stdout, stderr)
	case "preview":
		return preview(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}

func oneDir(args []string) (string, error) {
	if len(args) != 1 {
		return "", errUsage
	}
	return args[0], nil
}

func lint(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	against := fs.String("against", "", "the published rules directory: report each policy whose meaning changed under the same version")
	publicURL := fs.String("public-url", "", "the service's POLICYPUSH_PUBLIC_URL, which an SMS's {{link}} counts by (default: $POLICYPUSH_PUBLIC_URL)")
	// The flag may come before or after DIR.
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		return errUsage
	}
	dir := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	o, err := parseOptions(*publicURL)
	if err != nil {
		return err
	}
	d, err := ruledir.ReadWith(dir, o)
	if err != nil {
		return err
	}
	set, problems := d.Compile()
	if *against != "" {
		changed, err := meaningChanges(d.Rules, *against)
		if err != nil {
			return err
		}
		problems = append(problems, changed...)
	}
	if len(problems) > 0 {
		for _, p := range problems.Sorted() {
			fmt.Fprintln(stdout, p)
		}
		return errFailed
	}
	fmt.Fprintf(stderr, "%d policies OK\n", len(set.Policies()))
	return nil
}

// meaningChanges reports each rule whose meaning differs from the rule of
// the same id and version in the published directory: the service would
// refuse such a set (rules.CheckMeanings). Rules there that do not parse
// are not compared.
func meaningChanges(rs []*rules.Rule, published string) (rules.Errors, error) {
	pub, err := ruledir.Read(published)
	if err != nil {
		return nil, fmt.Errorf("--against: %w", err)
	}
	recorded := map[rules.VersionKey]string{}
	for _, r := range pub.Rules {
		if rules.Published(r) {
			recorded[rules.VersionKey{ID: r.ID, Version: r.Version}] = rules.MeaningHash(r)
		}
	}
	return rules.CheckMeanings(rs, recorded), nil
}

func test(args []string, stdout, stderr io.Writer) error {
	dir, err := oneDir(args)
	if err != nil {
		return err
	}
	o, err := parseOptions("")
	if err != nil {
		return err
	}
	d, err := ruledir.ReadWith(dir, o)
	if err != nil {
		return err
	}
	set, problems := d.Compile()
	if len(problems) > 0 {
		for _, p := range problems.Sorted() {
			fmt.Fprintln(stdout, p)
		}
		fmt.Fprintln(stdout, "0 passed, 1 failed")
		return errFailed
	}
	v, err := profile.NewValidator()
	if err != nil {
		return err
	}
	passed, failed := 0, 0
	tested := map[string]int{}
	for _, tf := range d.Tests {
		p := set.Policy(tf.Policy)
		if p == nil {
			fmt.Fprintf(stdout, "%s: no policy %q in %s\n", tf.PolicyPos, tf.Policy, dir)
			failed += len(tf.Cases)
			continue
		}
		for _, tc := range tf.Cases {
			data, err := ruledir.ReadProfile(tf, tc)
			var msgs []string
			if err != nil {
				msgs = []string{err.Error()}
			} else {
				msgs = rules.RunCase(set, v, p, tc, data)
			}
			if len(msgs) == 0 {
				passed++
				tested[p.ID]++
				continue
			}
			failed++
			for _, m := range msgs {
				pos := tc.Pos
				if len(m) > 8 && m[:8] == "profile " {
					pos = tc.ProfilePos
				}
				fmt.Fprintf(stdout, "%s: %s: case %q: %s\n", pos, tf.Policy, tc.Name, m)
			}
		}
	}
	for _, p := range set.Policies() {
		if tested[p.ID] == 0 {
			fmt.Fprintf(stderr, "warning: %s: policy %q has no passing test case\n", p.File, p.ID)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return errFailed
	}
	return nil
}

func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now().In(rules.Shanghai), nil
	}
	return rules.ParseTime(s)
}

func explain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("rules", "rules", "rules directory")
	id := fs.String("policy", "", "policy id")
	file := fs.String("profile", "", "profile JSON file (a profile, or a snapshot event)")
	atStr := fs.String("at", "", "evaluation time")
	asJSON := fs.Bool("json", false, "print the explanation as JSON")
	if err := fs.Parse(args); err != nil || *id == "" || *file == "" || fs.NArg() > 0 {
		return errUsage
	}
	at, err := parseAt(*atStr)
	if err != nil {
		return err
	}
	set, err := ruledir.Load(*dir)
	if err != nil {
		return err
	}
	p := set.Policy(*id)
	if p == nil {
		return fmt.Errorf("no policy %q in %s", *id, *dir)
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	var env struct {
		EventID string          `json:"event_id"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(data, &env) == nil && env.EventID != "" && len(env.Data) > 0 {
		data = env.Data
	}
	v, err := profile.NewValidator()
	if err != nil {
		return err
	}
	subject, err := v.Decode(p.Subject, data)
	if err != nil {
		return fmt.Errorf("%s: %w", *file, err)
	}
	in, err := set.Prepare(subject)
	if err != nil {
		return err
	}
	x := set.NewEvaluator().Explain(p, in, set.At(at))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(x)
	}
	return x.WriteText(stdout)
}

// matchLine is one output line of policyctl match (CONTRACTS.md §4).
type matchLine struct {
	SubjectType   string   `json:"subject_type"`
	SubjectID     string   `json:"subject_id"`
	PolicyID      string   `json:"policy_id"`
	PolicyVersion int      `json:"policy_version"`
	Result        string   `json:"result"`
	Failed        []string `json:"failed"`
	Unknown       []string `json:"unknown"`
	Amount        *float64 `json:"amount"`
}

func match(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("match", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("rules", "rules", "rules directory")
	file := fs.String("profiles", "", "JSON Lines file of snapshot events")
	atStr := fs.String("at", "", "evaluation time")
	all := fs.Bool("all", false, "also print ineligible results")
	if err := fs.Parse(args); err != nil || *file == "" || fs.NArg() > 0 {
		return errUsage
	}
	at, err := parseAt(*atStr)
	if err != nil {
		return err
	}
	set, err := ruledir.Load(*dir)
	if err != nil {
		return err
	}
	v, err := profile.NewValidator()
	if err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	m := &matcher{set: set, v: v, at: set.At(at), ev: set.NewEvaluator(), all: *all}
	for _, p := range set.Policies() {
		if p.Applies(m.at) {
			m.byKind[kindIndex(p.Subject)] = append(m.byKind[kindIndex(p.Subject)], p)
		}
	}
	out := bufio.NewWriterSize(stdout, 1<<16)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	bad := 0
	for line := 1; sc.Scan(); line++ {
		if line%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		if err := m.line(raw, enc); err != nil {
			bad++
			fmt.Fprintf(stderr, "%s:%d: %v\n", *file, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", *file, err)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if bad > 0 {
		return errFailed
	}
	return nil
}

func kindIndex(k profile.Kind) int {
	if k == profile.KindEnterprise {
		return 1
	}
	return 0
}

type matcher struct {
	set    *rules.Set
	v      *profile.Validator
	at     *rules.Instant
	ev     *rules.Evaluator
	all    bool
	byKind [2][]*rules.Policy
}

func (m *matcher) line(raw []byte, enc *json.Encoder) error {
	env, err := m.v.DecodeEnvelope(raw)
	if err != nil {
		return err
	}
	if env.Type != profile.Snapshot {
		return fmt.Errorf("event %s is a %s; match takes snapshot events", env.EventID, env.Type)
	}
	subject, err := m.v.Decode(env.SubjectType, env.Data)
	if err != nil {
		return err
	}
	in, err := m.set.Prepare(subject)
	if err != nil {
		return err
	}
	for _, p := range m.byKind[kindIndex(in.Kind)] {
		o := m.ev.Evaluate(p, in, m.at)
		if o.Result == rules.Ineligible && !m.all {
			continue
		}
		l := matchLine{
			SubjectType: string(in.Kind), SubjectID: in.ID, PolicyID: p.ID, PolicyVersion: p.Version,
			Result: o.Result.String(), Failed: p.Names(o.Failed), Unknown: p.Names(o.Unknown),
		}
		if o.HasAmount {
			a := o.Amount
			l.Amount = &a
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}

// parseOptions is what lint and test check the rules against: the public
// URL an SMS's {{link}} counts by, from the flag, else the environment.
func parseOptions(flagURL string) (rules.ParseOptions, error) {
	getenv := os.Getenv
	if flagURL != "" {
		getenv = func(string) string { return flagURL }
	}
	u, err := config.LintPublicURL(getenv)
	if err != nil {
		return rules.ParseOptions{}, err
	}
	return rules.ParseOptions{PublicURL: u}, nil
}

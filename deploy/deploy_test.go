package deploy

// These tests check the deployment files by parsing them: no container is
// run. They compare the files with the service's sources, so that a metric,
// an environment variable or a rule file renamed in the code breaks the
// build here instead of silently breaking an alert or a deployment.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/policypush/policypush/internal/config"
)

// Paths, relative to this package's directory (where go test runs).
const (
	repoRoot        = ".."
	alertsFile      = "prometheus/alerts.yaml"
	prometheusFile  = "prometheus/prometheus.yml"
	composeFile     = "compose/compose.yaml"
	envExampleFile  = "compose/.env.example"
	k8sDir          = "k8s"
	kustomizeFile   = "k8s/kustomization.yaml"
	secretTemplate  = "k8s/secret.example.yaml"
	dashboardFile   = "grafana/dashboards/policypush.json"
	datasourceFile  = "grafana/provisioning/datasources/prometheus.yaml"
	providerFile    = "grafana/provisioning/dashboards/policypush.yaml"
	readmeFile      = "README.md"
	dockerfile      = "Dockerfile"
	configSource    = "../internal/config/config.go"
	placeholderMark = "CHANGE-ME"
	namespace       = "policypush"
)

var promql = parser.NewParser(parser.Options{})

// externalMetrics are the metrics the deployment files use on purpose that
// the service does not define.
var externalMetrics = map[string]string{
	"up":            "Prometheus, for every scrape target",
	"probe_success": "the blackbox exporter probing /readyz",
	"kube_deployment_status_replicas_unavailable": "kube-state-metrics",
}

// ---------------------------------------------------------------------------
// What the service defines.

var metricNameLiteral = regexp.MustCompile(`Name:\s*"(policypush_[a-zA-Z0-9_:]+)"`)

// serviceMetrics are the metric names the service registers, read from the
// Go sources under internal/ (tests excluded), and whether it registers the
// Go and process collectors (go_*, process_*).
type serviceMetrics struct {
	names            map[string]bool
	goCollector      bool
	processCollector bool
}

func loadServiceMetrics(t *testing.T) serviceMetrics {
	t.Helper()
	sm := serviceMetrics{names: map[string]bool{}}
	err := filepath.WalkDir(filepath.Join(repoRoot, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range metricNameLiteral.FindAllSubmatch(src, -1) {
			sm.names[string(m[1])] = true
		}
		sm.goCollector = sm.goCollector || bytes.Contains(src, []byte("NewGoCollector("))
		sm.processCollector = sm.processCollector || bytes.Contains(src, []byte("NewProcessCollector("))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The scanner itself must work: these are in README's metric table.
	for _, n := range []string{"policypush_notifications_total", "policypush_outbox_pending", "policypush_event_latency_seconds"} {
		if !sm.names[n] {
			t.Fatalf("scanning internal/ for Name: \"policypush_...\" did not find %s; found %v", n, sortedKeys(sm.names))
		}
	}
	return sm
}

// known reports whether name is a metric the deployment may query, and
// explains why not otherwise.
func (sm serviceMetrics) known(name string) error {
	if sm.names[name] {
		return nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && sm.names[base] {
			return nil
		}
	}
	if _, ok := externalMetrics[name]; ok {
		return nil
	}
	if strings.HasPrefix(name, "go_") && sm.goCollector || strings.HasPrefix(name, "process_") && sm.processCollector {
		return nil
	}
	return fmt.Errorf("metric %s is not defined by the service (no Name: %q under internal/) nor allowed as external", name, name)
}

var configVarLiteral = regexp.MustCompile(`"(POLICYPUSH_[A-Z0-9_]+)"`)

// realEnvVars are the POLICYPUSH_* names that internal/config/config.go knows.
func realEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(configSource)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, m := range configVarLiteral.FindAllSubmatch(src, -1) {
		vars[string(m[1])] = true
	}
	for _, v := range []string{"POLICYPUSH_DATABASE_URL", "POLICYPUSH_KAFKA_BROKERS", "POLICYPUSH_HTTP_ADDR", "POLICYPUSH_PII_KEY"} {
		if !vars[v] {
			t.Fatalf("scanning %s did not find %s", configSource, v)
		}
	}
	return vars
}

// ---------------------------------------------------------------------------
// Small helpers.

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// selectors returns the vector selectors of a PromQL expression.
func selectors(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// metricName is the metric a selector reads, "" when it has none.
func metricName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// matcherValue is the value of the equality or regexp matcher on label in
// vs, and whether there is one.
func matcherValue(vs *parser.VectorSelector, label string) (string, bool) {
	for _, m := range vs.LabelMatchers {
		if m.Name == label && (m.Type == labels.MatchEqual || m.Type == labels.MatchRegexp) {
			return m.Value, true
		}
	}
	return "", false
}

// checkMetrics parses expr and checks that every metric it reads is known.
func checkMetrics(t *testing.T, sm serviceMetrics, where, expr string) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: PromQL %q does not parse: %v", where, expr, err)
		return
	}
	vss := selectors(e)
	if len(vss) == 0 {
		t.Errorf("%s: %q reads no metric", where, expr)
	}
	for _, vs := range vss {
		name := metricName(vs)
		if name == "" {
			t.Errorf("%s: selector %s names no metric", where, vs)
			continue
		}
		if err := sm.known(name); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
}

var policypushToken = regexp.MustCompile(`\bpolicypush_[a-z0-9_]+\b`)

// checkMetricTokens checks every policypush_* word of a file, so that
// metrics named in annotations, comments or relabelling exist too.
func checkMetricTokens(t *testing.T, sm serviceMetrics, file string) {
	t.Helper()
	for _, tok := range policypushToken.FindAllString(string(readFile(t, file)), -1) {
		if err := sm.known(tok); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// githubAnchors are the anchors GitHub gives the headings of a Markdown file.
func githubAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(readFile(t, file)), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r > 127:
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// isPlaceholder reports whether a secret value is an obvious placeholder.
func isPlaceholder(v string) bool { return v == "" || strings.Contains(v, placeholderMark) }

var secretName = regexp.MustCompile(`PASSWORD|SECRET|TOKEN|_KEY|DATABASE_URL`)

// ---------------------------------------------------------------------------
// Prometheus alerts.

func loadAlerts(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsFile, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("Prometheus refuses %s: %v", alertsFile, errors.Join(errs...))
	}
	return groups
}

func TestAlertRulesParseAndAreDocumented(t *testing.T) {
	groups := loadAlerts(t)
	anchors := githubAnchors(t, readmeFile)
	seen := map[string]bool{}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			t.Run(r.Alert, func(t *testing.T) {
				if r.Alert == "" {
					t.Fatalf("group %s: rule %q is not an alert", g.Name, r.Record)
				}
				if seen[r.Alert] {
					t.Errorf("alert %s is defined twice", r.Alert)
				}
				seen[r.Alert] = true
				if _, err := promql.ParseExpr(r.Expr); err != nil {
					t.Errorf("expr does not parse: %v", err)
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("severity label is %q, want critical or warning", s)
				}
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("annotation %s is missing", a)
					}
				}
				u, err := url.Parse(r.Annotations["runbook_url"])
				if err != nil || !strings.HasSuffix(u.Path, "/deploy/README.md") {
					t.Fatalf("runbook_url %q does not point at deploy/README.md", r.Annotations["runbook_url"])
				}
				if u.Fragment != strings.ToLower(r.Alert) || !anchors[u.Fragment] {
					t.Errorf("runbook_url anchor #%s: want #%s, a heading of %s", u.Fragment, strings.ToLower(r.Alert), readmeFile)
				}
			})
		}
	}
	if n == 0 {
		t.Fatal("no alert rule")
	}
}

func TestAlertsCoverTheService(t *testing.T) {
	groups := loadAlerts(t)
	byName := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			byName[r.Alert] = r
		}
	}
	tests := []struct {
		alert    string
		metric   string            // read by the expression
		matchers map[string]string // label matchers that selector must carry
		minFor   time.Duration
		severity string
	}{
		{alert: "PolicypushDown", metric: "up", matchers: map[string]string{"job": "policypush"}, minFor: time.Minute, severity: "critical"},
		{alert: "PolicypushTargetMissing", metric: "up", matchers: map[string]string{"job": "policypush"}, severity: "critical"},
		{alert: "PolicypushNotReady", metric: "probe_success", matchers: map[string]string{"job": "policypush-readyz"}, minFor: time.Minute, severity: "critical"},
		{alert: "PolicypushDLQGrowing", metric: "policypush_dlq_messages_total"},
		{alert: "PolicypushOutboxStalled", metric: "policypush_outbox_oldest_due_age_seconds", minFor: 10 * time.Minute},
		{alert: "PolicypushDeliveryFailureRateHigh", metric: "policypush_notifications_total", matchers: map[string]string{"result": "failed|dead"}},
		{alert: "PolicypushConsumerLagHigh", metric: "policypush_consumer_lag", minFor: 15 * time.Minute},
		{alert: "PolicypushRuleReloadFailed", metric: "policypush_rules_last_reload_successful"},
		{alert: "PolicypushNoRulesLoaded", metric: "policypush_rules_loaded", severity: "critical"},
		{alert: "PolicypushWeChatQuotaNearLimit", metric: "policypush_notifications_total", matchers: map[string]string{"channel": "wechat", "result": "sent"}},
		{alert: "PolicypushWeChatQuotaExhausted", metric: "policypush_notifications_deferred_total", matchers: map[string]string{"channel": "wechat", "reason": "quota"}},
		{alert: "PolicypushProviderConfigError", metric: "policypush_notification_failures_total", matchers: map[string]string{"reason": "config"}, severity: "critical"},
	}
	for _, tc := range tests {
		t.Run(tc.alert, func(t *testing.T) {
			r, ok := byName[tc.alert]
			if !ok {
				t.Fatalf("no alert %s in %s", tc.alert, alertsFile)
			}
			e, err := promql.ParseExpr(r.Expr)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, vs := range selectors(e) {
				if metricName(vs) != tc.metric {
					continue
				}
				all := true
				for l, want := range tc.matchers {
					if got, ok := matcherValue(vs, l); !ok || got != want {
						all = false
					}
				}
				found = found || all
			}
			if !found {
				t.Errorf("expr %q does not read %s with %v", r.Expr, tc.metric, tc.matchers)
			}
			if time.Duration(r.For) < tc.minFor {
				t.Errorf("for: %s, want at least %s", time.Duration(r.For), tc.minFor)
			}
			if tc.severity != "" && r.Labels["severity"] != tc.severity {
				t.Errorf("severity %q, want %q", r.Labels["severity"], tc.severity)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Metric names in every file that queries Prometheus.

func TestMetricNamesExistInTheService(t *testing.T) {
	sm := loadServiceMetrics(t)
	groups := loadAlerts(t)
	dash := loadDashboard(t)
	vars := dashboardVars(t, dash)

	type query struct{ where, expr string }
	var alertQueries, dashQueries []query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alertQueries = append(alertQueries, query{alertsFile + ": " + r.Alert, r.Expr})
		}
	}
	for _, p := range dashboardPanels(dash) {
		for _, tg := range p.Targets {
			expr, err := expandGrafana(tg.Expr, vars)
			if err != nil {
				t.Errorf("%s: panel %q: %v", dashboardFile, p.Title, err)
				continue
			}
			dashQueries = append(dashQueries, query{fmt.Sprintf("%s: panel %q %s", dashboardFile, p.Title, tg.RefID), expr})
		}
	}
	for _, v := range dash.Templating.List {
		if sel, ok := labelValuesSelector(v.Definition); ok {
			expr, err := expandGrafana(sel, vars)
			if err != nil {
				t.Errorf("%s: variable %s: %v", dashboardFile, v.Name, err)
				continue
			}
			dashQueries = append(dashQueries, query{dashboardFile + ": variable " + v.Name, expr})
		}
	}

	tests := []struct {
		file    string
		queries []query
	}{
		{alertsFile, alertQueries},
		{dashboardFile, dashQueries},
		{prometheusFile, nil}, // no PromQL; checkMetricTokens checks its policypush_* words
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			for _, q := range tc.queries {
				checkMetrics(t, sm, q.where, q.expr)
			}
			checkMetricTokens(t, sm, tc.file)
		})
	}
	if len(alertQueries) == 0 || len(dashQueries) == 0 {
		t.Fatalf("found %d alert and %d dashboard queries", len(alertQueries), len(dashQueries))
	}
}

// TestKnownRejectsUnknownMetrics keeps the check above honest.
func TestKnownRejectsUnknownMetrics(t *testing.T) {
	sm := loadServiceMetrics(t)
	tests := []struct {
		name string
		ok   bool
	}{
		{"policypush_notifications_total", true},
		{"policypush_event_latency_seconds_bucket", true},
		{"policypush_notification_send_seconds_count", true},
		{"up", true},
		{"go_goroutines", sm.goCollector},
		{"policypush_notifications_sent_total", false},
		{"policypush_outbox_pending_bucket", true}, // suffix of a defined name: allowed, harmless
		{"policypush_nonexistent_bucket", false},
		{"node_cpu_seconds_total", false},
	}
	for _, tc := range tests {
		if err := sm.known(tc.name); (err == nil) != tc.ok {
			t.Errorf("known(%s) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// ---------------------------------------------------------------------------
// Prometheus configuration.

type promConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string              `yaml:"job_name"`
		MetricsPath   string              `yaml:"metrics_path"`
		Params        map[string][]string `yaml:"params"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		RelabelConfigs []struct {
			TargetLabel string `yaml:"target_label"`
			Replacement string `yaml:"replacement"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusConfig(t *testing.T) {
	var pc promConfig
	if err := yaml.Unmarshal(readFile(t, prometheusFile), &pc); err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	cf := loadCompose(t)
	httpPort := portOf(t, cf.Services["policypush"].Environment["POLICYPUSH_HTTP_ADDR"])

	jobs := map[string]int{}
	for i, sc := range pc.ScrapeConfigs {
		jobs[sc.JobName] = i
	}
	tests := []struct {
		job, path, target string
		address           string // after relabelling, for probes
		module            string // the blackbox module, for probes
	}{
		{job: "policypush", path: "/metrics", target: "policypush:" + httpPort},
		{job: "policypush-readyz", path: "/probe", target: "http://policypush:" + httpPort + "/readyz", address: "blackbox:9115", module: "http_2xx"},
	}
	for _, tc := range tests {
		t.Run(tc.job, func(t *testing.T) {
			i, ok := jobs[tc.job]
			if !ok {
				t.Fatalf("no scrape job %s", tc.job)
			}
			sc := pc.ScrapeConfigs[i]
			if sc.MetricsPath != tc.path {
				t.Errorf("metrics_path %q, want %q", sc.MetricsPath, tc.path)
			}
			var targets []string
			for _, s := range sc.StaticConfigs {
				targets = append(targets, s.Targets...)
			}
			if !slices.Contains(targets, tc.target) {
				t.Errorf("targets %v, want %s", targets, tc.target)
			}
			host := strings.Split(strings.TrimPrefix(tc.target, "http://"), ":")[0]
			if _, ok := cf.Services[host]; !ok {
				t.Errorf("target host %s is not a compose service", host)
			}
			if tc.module != "" && !slices.Contains(sc.Params["module"], tc.module) {
				t.Errorf("params.module %v, want %s", sc.Params["module"], tc.module)
			}
			if tc.address != "" {
				found := false
				for _, rc := range sc.RelabelConfigs {
					found = found || rc.TargetLabel == "__address__" && rc.Replacement == tc.address
				}
				if !found {
					t.Errorf("no relabelling of __address__ to %s", tc.address)
				}
				if _, ok := cf.Services[strings.Split(tc.address, ":")[0]]; !ok {
					t.Errorf("%s is not a compose service", tc.address)
				}
			}
		})
	}

	// Every job the alerts and the dashboard select must be scraped.
	var exprs []string
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	dash := loadDashboard(t)
	vars := dashboardVars(t, dash)
	for _, p := range dashboardPanels(dash) {
		for _, tg := range p.Targets {
			if e, err := expandGrafana(tg.Expr, vars); err == nil {
				exprs = append(exprs, e)
			}
		}
	}
	for _, expr := range exprs {
		e, err := promql.ParseExpr(expr)
		if err != nil {
			continue // reported by the other tests
		}
		for _, vs := range selectors(e) {
			for _, m := range vs.LabelMatchers {
				if m.Name != "job" || m.Type != labels.MatchEqual || strings.HasPrefix(metricName(vs), "kube_") {
					continue
				}
				if _, ok := jobs[m.Value]; !ok {
					t.Errorf("%q selects job=%q, which %s does not scrape", expr, m.Value, prometheusFile)
				}
			}
		}
	}

	// The rule files are the alerts, mounted where prometheus.yml looks.
	mounts := cf.Services["prometheus"].bindMounts(t)
	if len(pc.RuleFiles) == 0 {
		t.Fatal("rule_files is empty")
	}
	for _, rf := range pc.RuleFiles {
		src, ok := mounts[rf]
		if !ok {
			t.Errorf("rule file %s is not mounted into the prometheus service", rf)
			continue
		}
		if filepath.Clean(filepath.Join("compose", src)) != filepath.Clean(alertsFile) {
			t.Errorf("rule file %s is mounted from %s, want ../prometheus/alerts.yaml", rf, src)
		}
	}
}

func portOf(t *testing.T, hostPort string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("%q: %v", hostPort, err)
	}
	return port
}

// ---------------------------------------------------------------------------
// Docker Compose.

type composeSpec struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
	Volumes     []string          `yaml:"volumes"`
	ReadOnly    bool              `yaml:"read_only"`
}

func loadCompose(t *testing.T) composeSpec {
	t.Helper()
	var cf composeSpec
	if err := yaml.Unmarshal(readFile(t, composeFile), &cf); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	if len(cf.Services) == 0 {
		t.Fatalf("%s has no services", composeFile)
	}
	return cf
}

// commandText is the service's command as one string.
func (s composeService) commandText() string {
	switch c := s.Command.(type) {
	case string:
		return c
	case []any:
		parts := make([]string, len(c))
		for i, p := range c {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// dependsOn maps each dependency to its condition (service_started for the
// short list form).
func (s composeService) dependsOn(t *testing.T) map[string]string {
	t.Helper()
	deps := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		var names []string
		if err := s.DependsOn.Decode(&names); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			deps[n] = "service_started"
		}
	default:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := s.DependsOn.Decode(&m); err != nil {
			t.Fatal(err)
		}
		for n, d := range m {
			deps[n] = d.Condition
		}
	}
	return deps
}

// bindMounts maps the container path of each bind mount to its source.
func (s composeService) bindMounts(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue // a named volume
		}
		m[parts[1]] = parts[0]
	}
	return m
}

func TestComposeServices(t *testing.T) {
	cf := loadCompose(t)
	tests := []struct {
		service     string
		imagePrefix string // "" for a service built from deploy/Dockerfile
		command     string // the command must contain this
		env         map[string]string
		dependsOn   map[string]string
	}{
		{service: "kafka", imagePrefix: "apache/kafka:", env: map[string]string{
			"KAFKA_PROCESS_ROLES": "broker,controller", "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092,HOST://localhost:29092",
		}},
		{service: "kafka-init", imagePrefix: "apache/kafka:", command: "--topic profile-events --partitions 8",
			dependsOn: map[string]string{"kafka": "service_healthy"}},
		{service: "postgres", imagePrefix: "postgres:15", env: map[string]string{"POSTGRES_DB": "policypush", "POSTGRES_USER": "policypush"}},
		{service: "policypush-migrate", command: "migrate", env: map[string]string{
			"POLICYPUSH_KAFKA_BROKERS": "kafka:9092", "POLICYPUSH_HTTP_ADDR": "0.0.0.0:8080",
		}, dependsOn: map[string]string{"postgres": "service_healthy"}},
		{service: "policypush", command: "serve", env: map[string]string{
			"POLICYPUSH_KAFKA_BROKERS": "kafka:9092", "POLICYPUSH_HTTP_ADDR": "0.0.0.0:8080", "POLICYPUSH_RULES_DIR": "/app/rules",
			"POLICYPUSH_KAFKA_TOPIC": "profile-events",
		}, dependsOn: map[string]string{
			"policypush-migrate": "service_completed_successfully", "kafka-init": "service_completed_successfully",
		}},
		{service: "prometheus", imagePrefix: "prom/prometheus:", command: "--config.file=/etc/prometheus/prometheus.yml"},
		{service: "blackbox", imagePrefix: "prom/blackbox-exporter:"},
		{service: "grafana", imagePrefix: "grafana/grafana"},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			s, ok := cf.Services[tc.service]
			if !ok {
				t.Fatalf("no service %s", tc.service)
			}
			if tc.imagePrefix != "" && !strings.HasPrefix(s.Image, tc.imagePrefix) {
				t.Errorf("image %q, want %s...", s.Image, tc.imagePrefix)
			}
			if tc.imagePrefix == "" {
				if s.Build == nil {
					t.Fatal("not built from deploy/Dockerfile")
				}
				ctx := filepath.Join("compose", s.Build.Context)
				if filepath.Clean(ctx) != filepath.Clean(repoRoot) {
					t.Errorf("build context %s is not the repository root", s.Build.Context)
				}
				got, err1 := os.Stat(filepath.Join(ctx, s.Build.Dockerfile))
				want, err2 := os.Stat(dockerfile)
				if err1 != nil || err2 != nil || !os.SameFile(got, want) {
					t.Errorf("build dockerfile %s, want deploy/Dockerfile (%v, %v)", s.Build.Dockerfile, err1, err2)
				}
				if !s.ReadOnly {
					t.Error("policypush containers should run with read_only: true")
				}
			}
			if !strings.Contains(s.commandText(), tc.command) {
				t.Errorf("command %q does not contain %q", s.commandText(), tc.command)
			}
			for k, want := range tc.env {
				if got := s.Environment[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			deps := s.dependsOn(t)
			for dep, cond := range tc.dependsOn {
				if deps[dep] != cond {
					t.Errorf("depends_on %s: condition %q, want %q", dep, deps[dep], cond)
				}
			}
			for dep := range deps {
				if _, ok := cf.Services[dep]; !ok {
					t.Errorf("depends on unknown service %s", dep)
				}
			}
			for target, src := range s.bindMounts(t) {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("bind mount %s -> %s: %v", src, target, err)
				}
			}
		})
	}

	t.Run("topics", func(t *testing.T) {
		cmd := cf.Services["kafka-init"].commandText()
		for _, re := range []string{`--topic\s+profile-events\s+--partitions\s+8\b`, `--topic\s+profile-events\.dlq\s`} {
			if !regexp.MustCompile(re).MatchString(cmd) {
				t.Errorf("kafka-init does not create a topic matching %s", re)
			}
		}
		if env := cf.Services["kafka"].Environment; env["KAFKA_ZOOKEEPER_CONNECT"] != "" || env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
			t.Errorf("kafka must run in KRaft mode with topic auto-creation off: %v", env)
		}
	})
}

var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves Compose's ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?message} and ${VAR?message} from env, and $$ to $.
func interpolate(s string, env map[string]string) (string, error) {
	const dollar = "\x00"
	s = strings.ReplaceAll(s, "$$", dollar)
	var errs []error
	s = interpolation.ReplaceAllStringFunc(s, func(m string) string {
		g := interpolation.FindStringSubmatch(m)
		v, set := env[g[1]]
		switch g[2] {
		case ":-":
			if v == "" {
				return g[3]
			}
		case "-":
			if !set {
				return g[3]
			}
		case ":?":
			if v == "" {
				errs = append(errs, fmt.Errorf("%s: %s", g[1], g[3]))
			}
		case "?":
			if !set {
				errs = append(errs, fmt.Errorf("%s: %s", g[1], g[3]))
			}
		}
		return v
	})
	return strings.ReplaceAll(s, dollar, "$"), errors.Join(errs...)
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "E": ""}
	tests := []struct {
		in, want string
		err      bool
	}{
		{"${A}", "a", false},
		{"x${A}y", "xay", false},
		{"${B:-d}", "d", false},
		{"${E:-d}", "d", false},
		{"${E-d}", "", false},
		{"${B-d}", "d", false},
		{"${E:?need E}", "", true},
		{"${B?need B}", "", true},
		{"$$topics", "$topics", false},
	}
	for _, tc := range tests {
		got, err := interpolate(tc.in, env)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("interpolate(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// loadEnvExample reads compose/.env.example as KEY=VALUE lines.
func loadEnvExample(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for i, line := range strings.Split(string(readFile(t, envExampleFile)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", envExampleFile, i+1, line)
		}
		env[k] = v
	}
	return env
}

func TestComposeSecretsComeFromEnvFile(t *testing.T) {
	cf := loadCompose(t)
	example := loadEnvExample(t)
	raw := string(readFile(t, composeFile))

	t.Run("no literal secret in compose.yaml", func(t *testing.T) {
		n := 0
		for name, s := range cf.Services {
			for k, v := range s.Environment {
				if !secretName.MatchString(k) {
					continue
				}
				n++
				if !strings.Contains(v, "${") {
					t.Errorf("service %s: %s is a literal; take it from .env with ${...}", name, k)
				}
			}
		}
		if n == 0 {
			t.Error("no secret variable found: the check is broken")
		}
	})
	t.Run("every ${VAR} is documented in .env.example", func(t *testing.T) {
		for _, m := range interpolation.FindAllStringSubmatch(raw, -1) {
			if _, ok := example[m[1]]; !ok {
				t.Errorf("compose.yaml uses ${%s}, which %s does not list", m[1], envExampleFile)
			}
		}
	})
	t.Run(".env.example holds placeholders only", func(t *testing.T) {
		n := 0
		for k, v := range example {
			if secretName.MatchString(k) {
				n++
				if !isPlaceholder(v) {
					t.Errorf("%s=%q is not a placeholder (empty or containing %s)", k, v, placeholderMark)
				}
			}
		}
		if n < 4 {
			t.Errorf("only %d secret variables in %s", n, envExampleFile)
		}
	})
	t.Run(".env is ignored by git", func(t *testing.T) {
		if !slices.Contains(strings.Split(string(readFile(t, "compose/.gitignore")), "\n"), ".env") {
			t.Error("compose/.gitignore does not ignore .env")
		}
	})
}

// serveEnv is the environment the policypush service of compose.yaml gets,
// with .env holding env.
func serveEnv(t *testing.T, cf composeSpec, env map[string]string) (map[string]string, error) {
	t.Helper()
	out := map[string]string{}
	var errs []error
	for k, v := range cf.Services["policypush"].Environment {
		r, err := interpolate(v, env)
		errs = append(errs, err)
		out[k] = r
	}
	return out, errors.Join(errs...)
}

func TestComposeConfigIsAcceptedByTheService(t *testing.T) {
	cf := loadCompose(t)
	example := loadEnvExample(t)

	t.Run("placeholders are refused", func(t *testing.T) {
		env, err := serveEnv(t, cf, example)
		if err != nil {
			t.Fatalf("interpolation with .env.example: %v", err)
		}
		wantRefused(t, env, "POLICYPUSH_PII_KEY", "POLICYPUSH_ADMIN_TOKEN")
	})
	t.Run("real secrets are accepted", func(t *testing.T) {
		filled := map[string]string{}
		for k, v := range example {
			filled[k] = v
		}
		filled["POLICYPUSH_PII_KEY"], filled["POLICYPUSH_ADMIN_TOKEN"] = realSecrets(t)
		env, err := serveEnv(t, cf, filled)
		if err != nil {
			t.Fatal(err)
		}
		wantAccepted(t, env)
	})
	t.Run("required secrets are required", func(t *testing.T) {
		if _, err := serveEnv(t, cf, map[string]string{}); err == nil {
			t.Error("compose.yaml starts policypush without POLICYPUSH_PII_KEY and friends: use ${VAR:?message}")
		}
	})
}

func realSecrets(t *testing.T) (piiKey, adminToken string) {
	t.Helper()
	key := make([]byte, 32)
	tok := make([]byte, 24)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rand.Reader, tok); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(key), hex.EncodeToString(tok)
}

// wantRefused checks that config.Load refuses env for exactly the named
// variables: the placeholders must stop the service, not run it with a
// published key.
func wantRefused(t *testing.T, env map[string]string, vars ...string) {
	t.Helper()
	_, err := config.Load(func(k string) string { return env[k] }, "", config.NeedServe)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("config.Load accepted the placeholders (err %v)", err)
	}
	var got []string
	for _, p := range ce.Problems {
		name, _, _ := strings.Cut(p, ":")
		got = append(got, name)
	}
	sort.Strings(got)
	want := slices.Clone(vars)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("config.Load refuses %v, want exactly %v:\n%v", got, want, err)
	}
}

func wantAccepted(t *testing.T, env map[string]string) {
	t.Helper()
	if _, err := config.Load(func(k string) string { return env[k] }, "", config.NeedServe); err != nil {
		t.Errorf("config.Load refuses the deployment's settings: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Environment variables everywhere.

var envVarToken = regexp.MustCompile(`POLICYPUSH_[A-Z0-9_]*[A-Z0-9]`)

func TestEnvVarsAreReal(t *testing.T) {
	realVars := realEnvVars(t)
	files := []string{composeFile, envExampleFile, dockerfile}
	k8s, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(k8s) == 0 {
		t.Fatalf("no manifest in %s (%v)", k8sDir, err)
	}
	files = append(files, k8s...)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			for _, v := range envVarToken.FindAllString(string(readFile(t, f)), -1) {
				if !realVars[v] {
					t.Errorf("%s is not a variable of internal/config/config.go", v)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Kubernetes.

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type k8sDoc struct {
	file       string
	node       *yaml.Node
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   k8sMeta           `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type podTemplate struct {
	Metadata k8sMeta `yaml:"metadata"`
	Spec     struct {
		TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
		RestartPolicy                 string `yaml:"restartPolicy"`
		SecurityContext               struct {
			RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
			RunAsUser    *int64 `yaml:"runAsUser"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deploymentSpec struct {
	Spec struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template podTemplate   `yaml:"template"`
	} `yaml:"spec"`
}

type pdbSpec struct {
	Spec struct {
		MinAvailable   *int          `yaml:"minAvailable"`
		MaxUnavailable *int          `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type serviceSpec struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int `yaml:"port"`
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type jobSpec struct {
	Spec struct {
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// loadManifests parses every document of every manifest in k8s/ but the
// kustomization.
func loadManifests(t *testing.T) []*k8sDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []*k8sDoc
	for _, f := range files {
		if f == filepath.Clean(kustomizeFile) {
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, f)))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(n.Content) == 0 {
				continue // an empty document
			}
			d := &k8sDoc{file: f, node: &n}
			if err := n.Decode(d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			docs = append(docs, d)
		}
	}
	return docs
}

func (d *k8sDoc) decode(t *testing.T, v any) {
	t.Helper()
	if err := d.node.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", d.file, d.Kind, d.Metadata.Name, err)
	}
}

func loadKustomization(t *testing.T) kustomization {
	t.Helper()
	var k kustomization
	if err := yaml.Unmarshal(readFile(t, kustomizeFile), &k); err != nil {
		t.Fatalf("%s: %v", kustomizeFile, err)
	}
	return k
}

// k8sSet indexes the manifests by kind; each kind used here appears once.
type k8sSet map[string]*k8sDoc

func indexManifests(t *testing.T, docs []*k8sDoc) k8sSet {
	t.Helper()
	set := k8sSet{}
	for _, d := range docs {
		if _, dup := set[d.Kind]; dup {
			t.Fatalf("two %s manifests (%s and %s): the checks below expect one", d.Kind, set[d.Kind].file, d.file)
		}
		set[d.Kind] = d
	}
	for _, kind := range []string{"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "Job"} {
		if set[kind] == nil {
			t.Fatalf("no %s manifest in %s", kind, k8sDir)
		}
	}
	return set
}

func selects(selector, podLabels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}

func TestK8sManifestsParse(t *testing.T) {
	docs := loadManifests(t)
	k := loadKustomization(t)
	for _, d := range docs {
		t.Run(d.file+"/"+d.Kind, func(t *testing.T) {
			if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
				t.Fatalf("apiVersion %q, kind %q, name %q: all are required", d.APIVersion, d.Kind, d.Metadata.Name)
			}
			if d.Kind != "Namespace" && d.Metadata.Namespace != k.Namespace {
				t.Errorf("namespace %q, want %q (the kustomization's)", d.Metadata.Namespace, k.Namespace)
			}
		})
	}
	indexManifests(t, docs)
}

func TestKustomization(t *testing.T) {
	k := loadKustomization(t)
	if k.Namespace != namespace {
		t.Errorf("namespace %q, want %q", k.Namespace, namespace)
	}

	t.Run("resources", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
		listed := map[string]bool{}
		for _, r := range k.Resources {
			listed[filepath.Join(k8sDir, r)] = true
			if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
				t.Errorf("resource %s: %v", r, err)
			}
		}
		for _, f := range files {
			switch f {
			case filepath.Clean(kustomizeFile):
			case filepath.Clean(secretTemplate):
				if listed[f] {
					t.Errorf("%s is listed: applying it would reset the real Secret to placeholders", f)
				}
			default:
				if !listed[f] {
					t.Errorf("%s is not listed in resources", f)
				}
			}
		}
	})

	t.Run("rules ConfigMap matches rules/", func(t *testing.T) {
		var want []string
		err := filepath.WalkDir(filepath.Join(repoRoot, "rules"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) &&
				!strings.HasSuffix(p, "_test.yaml") && !strings.HasSuffix(p, "_test.yml") {
				rel, _ := filepath.Rel(repoRoot, p)
				want = append(want, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil || len(want) == 0 {
			t.Fatalf("no rule file under rules/ (%v)", err)
		}
		var gen []string
		keys := map[string]bool{}
		for _, g := range k.ConfigMapGenerator {
			if g.Name != "policypush-rules" {
				continue
			}
			for _, f := range g.Files {
				key, src, ok := strings.Cut(f, "=")
				if !ok {
					t.Errorf("%q: give the key explicitly (KEY=../../rules/DOMAIN/FILE)", f)
					continue
				}
				if keys[key] {
					t.Errorf("key %s appears twice: two rule files share a name", key)
				}
				keys[key] = true
				if key != path.Base(src) {
					t.Errorf("key %s for %s: use the file name", key, src)
				}
				if !regexp.MustCompile(`^[-._a-zA-Z0-9]+$`).MatchString(key) {
					t.Errorf("key %s is not a valid ConfigMap key", key)
				}
				// deploy/k8s/../../rules/D/F is rules/D/F from the repository root.
				gen = append(gen, path.Clean(path.Join("deploy/k8s", src)))
			}
		}
		sort.Strings(gen)
		sort.Strings(want)
		if !slices.Equal(gen, want) {
			t.Errorf("configMapGenerator policypush-rules lists\n  %v\nwant every rule file of rules/ (no tests):\n  %v", gen, want)
		}
	})

	t.Run("images", func(t *testing.T) {
		set := indexManifests(t, loadManifests(t))
		var dep deploymentSpec
		set["Deployment"].decode(t, &dep)
		names := map[string]bool{}
		for _, im := range k.Images {
			names[im.Name] = true
			if im.NewName == "" || im.NewTag == "" {
				t.Errorf("image %s: set newName and newTag", im.Name)
			}
		}
		for _, c := range dep.Spec.Template.Spec.Containers {
			if !names[c.Image] {
				t.Errorf("container %s image %q is not rewritten by images:", c.Name, c.Image)
			}
		}
	})
}

func TestK8sDeployment(t *testing.T) {
	set := indexManifests(t, loadManifests(t))
	k := loadKustomization(t)
	var dep deploymentSpec
	set["Deployment"].decode(t, &dep)
	pod := dep.Spec.Template
	cm := set["ConfigMap"]
	secret := set["Secret"]
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	httpPort := portOf(t, cm.Data["POLICYPUSH_HTTP_ADDR"])
	portOK := func(p any) bool {
		for _, cp := range c.Ports {
			if fmt.Sprint(p) == cp.Name || fmt.Sprint(p) == fmt.Sprint(cp.ContainerPort) {
				return fmt.Sprint(cp.ContainerPort) == httpPort
			}
		}
		return false
	}

	tests := []struct {
		name string
		ok   bool
		msg  string
	}{
		{"replicas", dep.Spec.Replicas != nil && *dep.Spec.Replicas >= 2, "at least 2 replicas"},
		{"selector", selects(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels), "the selector must match the pod labels"},
		{"args", slices.Equal(c.Args, []string{"serve"}), "args must be [serve]"},
		{"liveness", c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path == "/healthz" && portOK(c.LivenessProbe.HTTPGet.Port), "liveness probe: GET /healthz on the HTTP port"},
		{"readiness", c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz" && portOK(c.ReadinessProbe.HTTPGet.Port), "readiness probe: GET /readyz on the HTTP port"},
		{"readiness timeout", c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds > 2, "/readyz takes up to 2 s: timeoutSeconds must exceed it"},
		{"grace period", pod.Spec.TerminationGracePeriodSeconds != nil && *pod.Spec.TerminationGracePeriodSeconds >= 30, "terminationGracePeriodSeconds >= 30 to finish a batch"},
		{"non-root", (pod.Spec.SecurityContext.RunAsNonRoot != nil && *pod.Spec.SecurityContext.RunAsNonRoot) || (c.SecurityContext.RunAsNonRoot != nil && *c.SecurityContext.RunAsNonRoot), "runAsNonRoot: true"},
		{"read-only root", c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem, "readOnlyRootFilesystem: true"},
		{"no privilege escalation", c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false"},
		{"capabilities", slices.Contains(c.SecurityContext.Capabilities.Drop, "ALL"), "drop ALL capabilities"},
		{"resources", c.Resources.Requests["cpu"] != "" && c.Resources.Requests["memory"] != "" && c.Resources.Limits["memory"] != "", "cpu and memory requests and a memory limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Error(tc.msg)
			}
		})
	}

	t.Run("env from the ConfigMap and the Secret", func(t *testing.T) {
		var cms, secrets []string
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				cms = append(cms, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil {
				secrets = append(secrets, ef.SecretRef.Name)
			}
		}
		if !slices.Contains(cms, cm.Metadata.Name) || !slices.Contains(secrets, secret.Metadata.Name) {
			t.Errorf("envFrom config maps %v, secrets %v; want %s and %s", cms, secrets, cm.Metadata.Name, secret.Metadata.Name)
		}
	})

	t.Run("rules mounted from the generated ConfigMap", func(t *testing.T) {
		var gen []string
		for _, g := range k.ConfigMapGenerator {
			gen = append(gen, g.Name)
		}
		rulesDir := cm.Data["POLICYPUSH_RULES_DIR"]
		mounted := false
		for _, vm := range c.VolumeMounts {
			if vm.MountPath != rulesDir {
				continue
			}
			for _, v := range pod.Spec.Volumes {
				if v.Name == vm.Name && v.ConfigMap != nil && slices.Contains(gen, v.ConfigMap.Name) {
					mounted = vm.ReadOnly
				}
			}
		}
		if rulesDir == "" || !mounted {
			t.Errorf("POLICYPUSH_RULES_DIR=%q must be a read-only mount of a generated ConfigMap (%v)", rulesDir, gen)
		}
	})

	t.Run("PodDisruptionBudget", func(t *testing.T) {
		var pdb pdbSpec
		set["PodDisruptionBudget"].decode(t, &pdb)
		if !selects(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels) {
			t.Errorf("selector %v does not select the Deployment's pods %v", pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels)
		}
		replicas := *dep.Spec.Replicas
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			if *pdb.Spec.MaxUnavailable != 1 {
				t.Errorf("maxUnavailable %d, want 1", *pdb.Spec.MaxUnavailable)
			}
		case pdb.Spec.MinAvailable != nil:
			if *pdb.Spec.MinAvailable < 2 || *pdb.Spec.MinAvailable >= replicas {
				t.Errorf("minAvailable %d with %d replicas: want 2 or more, and fewer than the replicas", *pdb.Spec.MinAvailable, replicas)
			}
		default:
			t.Error("set maxUnavailable or minAvailable")
		}
	})

	t.Run("Service", func(t *testing.T) {
		var svc serviceSpec
		set["Service"].decode(t, &svc)
		if !selects(svc.Spec.Selector, pod.Metadata.Labels) {
			t.Errorf("selector %v does not select the Deployment's pods", svc.Spec.Selector)
		}
		if len(svc.Spec.Ports) == 0 || !portOK(svc.Spec.Ports[0].TargetPort) {
			t.Errorf("ports %v: the target must be the HTTP port", svc.Spec.Ports)
		}
	})

	t.Run("migrate Job", func(t *testing.T) {
		var job jobSpec
		set["Job"].decode(t, &job)
		jp := job.Spec.Template
		if len(jp.Spec.Containers) != 1 || !slices.Equal(jp.Spec.Containers[0].Args, []string{"migrate"}) {
			t.Fatalf("the Job must run one container with args [migrate]")
		}
		jc := jp.Spec.Containers[0]
		if jc.Image != c.Image {
			t.Errorf("image %q, want the Deployment's %q", jc.Image, c.Image)
		}
		if jp.Spec.RestartPolicy != "OnFailure" && jp.Spec.RestartPolicy != "Never" {
			t.Errorf("restartPolicy %q", jp.Spec.RestartPolicy)
		}
		if len(jc.EnvFrom) != len(c.EnvFrom) {
			t.Errorf("envFrom differs from the Deployment's")
		}
		if jc.SecurityContext.ReadOnlyRootFilesystem == nil || !*jc.SecurityContext.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem: true")
		}
		for name, sel := range map[string]map[string]string{
			"Deployment": dep.Spec.Selector.MatchLabels,
			"Service":    func() map[string]string { var s serviceSpec; set["Service"].decode(t, &s); return s.Spec.Selector }(),
			"PDB": func() map[string]string {
				var p pdbSpec
				set["PodDisruptionBudget"].decode(t, &p)
				return p.Spec.Selector.MatchLabels
			}(),
		} {
			if selects(sel, jp.Metadata.Labels) {
				t.Errorf("the %s selector %v also selects the Job's pods", name, sel)
			}
		}
	})
}

func TestK8sConfigAndSecret(t *testing.T) {
	set := indexManifests(t, loadManifests(t))
	realVars := realEnvVars(t)
	cm, secret := set["ConfigMap"], set["Secret"]

	t.Run("keys", func(t *testing.T) {
		for _, src := range []struct {
			name string
			m    map[string]string
		}{{"ConfigMap", cm.Data}, {"Secret", secret.StringData}} {
			if len(src.m) == 0 {
				t.Errorf("%s has no keys", src.name)
			}
			for k := range src.m {
				if !realVars[k] {
					t.Errorf("%s key %s is not a variable of internal/config/config.go", src.name, k)
				}
			}
		}
		for k := range cm.Data {
			if _, dup := secret.StringData[k]; dup {
				t.Errorf("%s is in both the ConfigMap and the Secret", k)
			}
			if secretName.MatchString(k) {
				t.Errorf("%s looks secret: move it to the Secret", k)
			}
		}
	})
	t.Run("secret template holds placeholders", func(t *testing.T) {
		if len(secret.Data) > 0 {
			t.Error("use stringData with placeholders, not data")
		}
		for k, v := range secret.StringData {
			if !isPlaceholder(v) {
				t.Errorf("%s=%q is not a placeholder (empty or containing %s)", k, v, placeholderMark)
			}
		}
		for _, k := range []string{"POLICYPUSH_DATABASE_URL", "POLICYPUSH_PII_KEY", "POLICYPUSH_ADMIN_TOKEN"} {
			if _, ok := secret.StringData[k]; !ok {
				t.Errorf("the Secret template lacks %s", k)
			}
		}
	})

	env := map[string]string{}
	for k, v := range cm.Data {
		env[k] = v
	}
	for k, v := range secret.StringData {
		env[k] = v
	}
	t.Run("placeholders are refused", func(t *testing.T) {
		wantRefused(t, env, "POLICYPUSH_PII_KEY", "POLICYPUSH_ADMIN_TOKEN")
	})
	t.Run("real secrets are accepted", func(t *testing.T) {
		filled := map[string]string{}
		for k, v := range env {
			filled[k] = v
		}
		filled["POLICYPUSH_PII_KEY"], filled["POLICYPUSH_ADMIN_TOKEN"] = realSecrets(t)
		wantAccepted(t, filled)
	})
}

// ---------------------------------------------------------------------------
// Grafana.

type grafanaTarget struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // inside collapsed rows
}

type grafanaVar struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Definition string `json:"definition"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVar `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	dec := json.NewDecoder(bytes.NewReader(readFile(t, dashboardFile)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s holds more than one JSON value", dashboardFile)
	}
	return d
}

// dashboardPanels flattens rows.
func dashboardPanels(d grafanaDashboard) []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaBuiltins stand in for Grafana's global variables.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "5m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
}

// dashboardVars maps each template variable to a value that stands for it
// in a query: its "All" value when it has one, else its current value.
func dashboardVars(t *testing.T, d grafanaDashboard) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for k, v := range grafanaBuiltins {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		switch {
		case v.IncludeAll && v.AllValue != "":
			vars[v.Name] = v.AllValue
		default:
			vars[v.Name] = fmt.Sprint(v.Current.Value)
		}
		if vars[v.Name] == "" {
			t.Errorf("%s: variable %s has no value", dashboardFile, v.Name)
		}
	}
	return vars
}

var grafanaVarRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// expandGrafana substitutes Grafana variables; an undefined one is an error.
func expandGrafana(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := grafanaVarRef.ReplaceAllStringFunc(expr, func(m string) string {
		g := grafanaVarRef.FindStringSubmatch(m)
		name := g[1] + g[2] + g[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("undefined Grafana variable(s) %v in %q", missing, expr)
	}
	return out, nil
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)

// labelValuesSelector is the selector of a label_values(SELECTOR, label)
// variable query.
func labelValuesSelector(def string) (string, bool) {
	m := labelValuesQuery.FindStringSubmatch(strings.TrimSpace(def))
	if m == nil {
		return "", false
	}
	return m[1], true
}

func TestExpandGrafana(t *testing.T) {
	vars := map[string]string{"job": "policypush", "instance": ".*", "__rate_interval": "5m"}
	tests := []struct {
		in, want string
		err      bool
	}{
		{`rate(x{job="$job"}[$__rate_interval])`, `rate(x{job="policypush"}[5m])`, false},
		{`x{instance=~"${instance}"}`, `x{instance=~".*"}`, false},
		{`x{instance=~"${instance:regex}"}`, `x{instance=~".*"}`, false},
		{`x{job="[[job]]"}`, `x{job="policypush"}`, false},
		{`x{job="$nope"}`, "", true},
	}
	for _, tc := range tests {
		got, err := expandGrafana(tc.in, vars)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("expandGrafana(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	vars := dashboardVars(t, d)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both are required", d.UID, d.Title)
	}
	panels := dashboardPanels(d)

	t.Run("panels", func(t *testing.T) {
		ids := map[int]bool{}
		queries := 0
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if !bytes.Contains(p.Datasource, []byte(`"${datasource}"`)) {
				t.Errorf("panel %q: datasource %s, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			for _, tg := range p.Targets {
				queries++
				expr, err := expandGrafana(tg.Expr, vars)
				if err != nil {
					t.Errorf("panel %q: %v", p.Title, err)
					continue
				}
				if _, err := promql.ParseExpr(expr); err != nil {
					t.Errorf("panel %q %s: %q does not parse: %v", p.Title, tg.RefID, expr, err)
				}
			}
		}
		if queries == 0 {
			t.Fatal("no query in the dashboard")
		}
	})

	t.Run("no overlap", func(t *testing.T) {
		for i, a := range panels {
			for _, b := range panels[i+1:] {
				ga, gb := a.GridPos, b.GridPos
				if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
					t.Errorf("panels %q and %q overlap", a.Title, b.Title)
				}
			}
		}
	})

	// The panels the operators asked for, and what each must show.
	tests := []struct {
		title   string
		metrics []string
		has     string // the (expanded) query must contain this
	}{
		{"Events consumed by outcome", []string{"policypush_events_consumed_total"}, "by (outcome)"},
		{"DLQ messages", []string{"policypush_dlq_messages_total"}, ""},
		{"Event latency p50 / p99", []string{"policypush_event_latency_seconds_bucket"}, "histogram_quantile(0.99"},
		{"Consumer lag", []string{"policypush_consumer_lag"}, ""},
		{"New matches by policy", []string{"policypush_matches_total"}, "by (policy)"},
		{"Notifications by channel and result", []string{"policypush_notifications_total"}, "by (channel, result)"},
		{"Failures by reason", []string{"policypush_notification_failures_total"}, "reason"},
		{"Deferred by reason", []string{"policypush_notifications_deferred_total"}, "reason"},
		{"Suppressed by reason", []string{"policypush_notifications_suppressed_total"}, "reason"},
		{"Fallbacks", []string{"policypush_notification_fallbacks_total"}, ""},
		{"Receipts by status", []string{"policypush_receipts_total"}, "status"},
		{"Outbox pending", []string{"policypush_outbox_pending"}, ""},
		{"Outbox oldest due age", []string{"policypush_outbox_oldest_due_age_seconds"}, ""},
		{"Send latency p50 / p99", []string{"policypush_notification_send_seconds_bucket"}, "histogram_quantile(0.99"},
		{"Rules loaded and last reload", []string{"policypush_rules_loaded", "policypush_rules_last_reload_successful"}, ""},
		{"Since last rule reload", []string{"policypush_rules_last_reload_timestamp_seconds"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.title, func(t *testing.T) {
			found := false
			for _, p := range panels {
				if p.Title != tc.title {
					continue
				}
				found = true
				var all strings.Builder
				read := map[string]bool{}
				for _, tg := range p.Targets {
					expr, err := expandGrafana(tg.Expr, vars)
					if err != nil {
						continue
					}
					all.WriteString(expr + "\n")
					if e, err := promql.ParseExpr(expr); err == nil {
						for _, vs := range selectors(e) {
							read[metricName(vs)] = true
						}
					}
				}
				for _, m := range tc.metrics {
					if !read[m] {
						t.Errorf("panel %q does not query %s", p.Title, m)
					}
				}
				if !strings.Contains(all.String(), tc.has) {
					t.Errorf("panel %q: no query contains %q", p.Title, tc.has)
				}
			}
			if !found {
				t.Errorf("no panel titled %q", tc.title)
			}
		})
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	cf := loadCompose(t)
	grafana := cf.Services["grafana"].bindMounts(t)
	d := loadDashboard(t)

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, Type, URL, UID string
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, datasourceFile), &ds); err != nil {
		t.Fatalf("%s: %v", datasourceFile, err)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(readFile(t, providerFile), &prov); err != nil {
		t.Fatalf("%s: %v", providerFile, err)
	}

	var dsDefault string
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			dsDefault = fmt.Sprint(v.Current.Value)
		}
	}
	tests := []struct {
		name string
		ok   bool
		msg  string
	}{
		{"datasource", len(ds.Datasources) == 1 && ds.Datasources[0].Type == "prometheus" && ds.APIVersion == 1,
			"one Prometheus datasource, apiVersion 1"},
		{"datasource URL", len(ds.Datasources) == 1 && ds.Datasources[0].URL == "http://prometheus:9090",
			"the datasource must reach the compose prometheus service"},
		{"dashboard default datasource", len(ds.Datasources) == 1 && ds.Datasources[0].UID == dsDefault,
			"the dashboard's datasource variable must default to the provisioned uid"},
		{"provider", len(prov.Providers) == 1 && prov.Providers[0].Type == "file" && prov.APIVersion == 1,
			"one file provider, apiVersion 1"},
		{"provider path mounted", len(prov.Providers) == 1 && filepath.Clean(filepath.Join("compose", grafana[prov.Providers[0].Options.Path])) == filepath.Dir(dashboardFile),
			"compose must mount deploy/grafana/dashboards at the provider's path"},
		{"provisioning mounted", filepath.Clean(filepath.Join("compose", grafana["/etc/grafana/provisioning"])) == "grafana/provisioning",
			"compose must mount deploy/grafana/provisioning at /etc/grafana/provisioning"},
	}
	if _, ok := cf.Services["prometheus"]; !ok {
		t.Fatal("no prometheus service in compose.yaml")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Error(tc.msg)
			}
		})
	}
}

// TestComposeSASLOverlay checks that compose.sasl.yaml gives the service a
// configuration it accepts, and a broker listener that speaks what the
// service is told to speak.
func TestComposeSASLOverlay(t *testing.T) {
	const overlayFile = "compose/compose.sasl.yaml"
	base := loadCompose(t)
	var overlay composeSpec
	if err := yaml.Unmarshal(readFile(t, overlayFile), &overlay); err != nil {
		t.Fatalf("%s: %v", overlayFile, err)
	}
	filled := loadEnvExample(t)
	filled["POLICYPUSH_PII_KEY"], filled["POLICYPUSH_ADMIN_TOKEN"] = realSecrets(t)
	filled["KAFKA_SASL_PASSWORD"] = "0123456789abcdef"
	for _, svc := range []string{"policypush", "policypush-migrate"} {
		t.Run(svc, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base.Services[svc].Environment {
				env[k] = v
			}
			for k, v := range overlay.Services[svc].Environment {
				env[k] = v // Compose merges environment maps, the overlay winning
			}
			for k, v := range env {
				r, err := interpolate(v, filled)
				if err != nil {
					t.Fatal(err)
				}
				env[k] = r
			}
			if env["POLICYPUSH_KAFKA_SASL_MECHANISM"] == "" {
				t.Fatal("the overlay does not turn SASL on")
			}
			wantAccepted(t, env)

			kafka := overlay.Services["kafka"].Environment
			if !strings.Contains(kafka["KAFKA_SASL_ENABLED_MECHANISMS"], env["POLICYPUSH_KAFKA_SASL_MECHANISM"]) {
				t.Errorf("the broker enables %q, the service speaks %q", kafka["KAFKA_SASL_ENABLED_MECHANISMS"], env["POLICYPUSH_KAFKA_SASL_MECHANISM"])
			}
			_, port, _ := strings.Cut(env["POLICYPUSH_KAFKA_BROKERS"], ":")
			if !strings.Contains(kafka["KAFKA_ADVERTISED_LISTENERS"], "SASL://kafka:"+port) ||
				!strings.Contains(kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], "SASL:SASL_") {
				t.Errorf("no SASL listener at kafka:%s in %v", port, kafka)
			}
		})
	}
	if _, err := interpolate(overlay.Services["policypush"].Environment["POLICYPUSH_KAFKA_SASL_PASSWORD"], map[string]string{}); err == nil {
		t.Error("the overlay starts without KAFKA_SASL_PASSWORD: use ${VAR:?message}")
	}
}

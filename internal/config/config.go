// Package config reads policypush's configuration from the environment
// (shared/CONTRACTS.md §5) and, optionally, a file, and validates it in
// one place. Secrets are kept in a type that never prints its value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/policypush/policypush/internal/kafkasec"
	"github.com/policypush/policypush/internal/pii"
)

// Secret is a value that must not appear in logs, errors or metrics.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<redacted>"
}

// GoString redacts the secret in %#v too.
func (s Secret) GoString() string { return s.String() }

// Value returns the secret itself, for the one place that needs it.
func (s Secret) Value() string { return string(s) }

// Window is a daily local (Asia/Shanghai) time window such as 21:00-08:00;
// the zero Window is off.
type Window struct {
	From, To time.Duration // since midnight
	On       bool
}

// Cap is at most N notices per Period; the zero Cap is off.
type Cap struct {
	N      int
	Period time.Duration
}

// Config is policypush's whole configuration.
type Config struct {
	DatabaseURL       Secret // may hold a password
	KafkaBrokers      []string
	KafkaEmbedded     bool // POLICYPUSH_KAFKA_BROKERS=embedded
	KafkaEmbeddedAddr string
	KafkaTopic        string
	KafkaGroup        string
	// KafkaSecurity is TLS and SASL to the cluster (POLICYPUSH_KAFKA_TLS*
	// and _SASL_*); an addition to the contract. Its String hides the password.
	KafkaSecurity kafkasec.Settings
	RulesDir      string
	HTTPAddr      string
	// PublicURL is where citizens reach the HTTP server: notices link to
	// PublicURL/r/{token}. An addition to the contract.
	PublicURL string
	// LinkPublicURL is POLICYPUSH_PUBLIC_URL as set ("" when unset, and
	// PublicURL derived from the listen address): the rules' one-segment
	// check of an SMS counts {{link}} by it, as lint does (LintPublicURL).
	LinkPublicURL string

	WeChatAppID      string
	WeChatSecret     Secret
	WeChatToken      Secret
	WeChatAESKey     Secret
	WeChatTemplateID string
	WeChatAPIBase    string
	// WeChatOpenBase is where the notice page sends a WeChat visitor for
	// snsapi_base authorization (open.weixin.qq.com/connect/oauth2/authorize);
	// a test points it at a fake.
	WeChatOpenBase string

	SMSProvider        string
	SMSEndpoint        string
	SMSAccessKeyID     string
	SMSAccessKeySecret Secret
	SMSSignName        string
	SMSTemplate        string
	SMSAppID           string // Tencent's SmsSdkAppId; an addition to the contract

	// Provider callbacks: the ?key= SMS callback URLs carry, and the
	// networks every provider callback must come from (empty: any).
	SMSCallbackKey Secret
	CallbackAllow  []netip.Prefix

	QuietHours   Window
	FrequencyCap Cap
	WeChatRate   float64
	SMSRate      float64

	PIIKey     Secret // base64 of 32 bytes
	AdminToken Secret

	// PIIOldKeys are the keys of POLICYPUSH_PII_KEYS: earlier PII keys,
	// held for reading only while `policypush reseal` moves the data to
	// PIIKey. An addition to the contract.
	PIIOldKeys []Secret

	// Additions to the contract: how the consumer batches.
	BatchSize int
	BatchWait time.Duration

	// Sweeps: how often the time-driven sweep runs, how many chunk workers
	// this process runs, how many subjects a chunk holds, and the rest
	// between chunks that leaves room for live traffic.
	SweepEvery   time.Duration
	SweepWorkers int
	SweepChunk   int
	SweepPause   time.Duration

	// NoticeLinkTTL is how long a notice's link (/r/, /n/, /public/notices/)
	// lives after its policy's validity ends, or after the notice was sent
	// for an open-ended policy; 0 (off): for ever. An addition to the
	// contract: POLICYPUSH_NOTICE_LINK_TTL.
	NoticeLinkTTL time.Duration
	// PublicityDays is how many working days (Monday to Friday) an
	// approved case stays on the 公示 list before it counts as ready for
	// payment: POLICYPUSH_PUBLICITY_DAYS.
	PublicityDays int

	// Console sign-in (internal/signin). ConsoleURL is where officers
	// reach the console (default PublicURL): cookies are Secure when it is
	// https, and the OIDC callback is ConsoleURL/console/login/oidc/callback.
	// OIDC is on when OIDCIssuer is set.
	ConsoleURL       string
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret Secret
	OIDCRoleClaim    string

	// DispatchLease is how long a dispatcher's claim on outbox rows lasts
	// without renewal: a dead replica's rows are settled within about
	// DispatchLease plus a quarter of it (at most 5s more).
	DispatchLease time.Duration

	// Digests (issue 13): a subject's notices due within DigestWindow of
	// the first go out as one message (0: off), on a channel that has a
	// digest template; on one without, each goes alone.
	DigestWindow         time.Duration
	WeChatDigestTemplate string
	SMSDigestTemplate    string

	// The public listener (issue 12). PublicAddr, when set, serves the
	// routes the internet must reach, and HTTPAddr the rest. PublicRate
	// (requests per second per client; 0: off) and PublicBurst limit
	// those routes; TrustedProxies are the reverse proxies whose
	// X-Forwarded-For names the client.
	PublicAddr     string
	PublicRate     float64
	PublicBurst    int
	TrustedProxies []netip.Prefix
	// PreviewBudget is how long one impact preview may run before it is
	// stopped and answered 503 (previews run one at a time).
	PreviewBudget time.Duration
	// CommentRate bounds the comments one client (an IPv4 address or an
	// IPv6 /64) may post on drafts out for comment, apart from the public
	// rate limit: N comments per Period. Zero N is off.
	CommentRate Cap
}

// WeChatEnabled reports whether the official account is configured.
func (c *Config) WeChatEnabled() bool { return c.WeChatAppID != "" && c.WeChatSecret != "" }

// defaults are the values of CONTRACTS.md §5.
var defaults = map[string]string{
	"POLICYPUSH_DATABASE_URL":        "postgres://postgres@127.0.0.1:5432/policypush?sslmode=disable",
	"POLICYPUSH_KAFKA_BROKERS":       "embedded",
	"POLICYPUSH_KAFKA_EMBEDDED_ADDR": "127.0.0.1:9092",
	"POLICYPUSH_KAFKA_TOPIC":         "profile-events",
	"POLICYPUSH_KAFKA_GROUP":         "policypush",
	"POLICYPUSH_RULES_DIR":           "rules",
	"POLICYPUSH_HTTP_ADDR":           "127.0.0.1:8080",
	"POLICYPUSH_WECHAT_API_BASE":     "https://api.weixin.qq.com",
	"POLICYPUSH_WECHAT_OPEN_BASE":    "https://open.weixin.qq.com",
	"POLICYPUSH_SMS_PROVIDER":        "log",
	"POLICYPUSH_QUIET_HOURS":         "21:00-08:00",
	"POLICYPUSH_FREQUENCY_CAP":       "3/168h",
	"POLICYPUSH_WECHAT_RATE":         "50",
	"POLICYPUSH_SMS_RATE":            "50",
	"POLICYPUSH_BATCH_SIZE":          "500",
	"POLICYPUSH_PUBLIC_URL":          "",
	"POLICYPUSH_BATCH_WAIT":          "50ms",
	"POLICYPUSH_SWEEP_EVERY":         "24h",
	"POLICYPUSH_SWEEP_WORKERS":       "1",
	"POLICYPUSH_SWEEP_CHUNK":         "1000",
	"POLICYPUSH_SWEEP_PAUSE":         "0s",
	"POLICYPUSH_KAFKA_TLS":           "off",
	"POLICYPUSH_DISPATCH_LEASE":      "20s",
	// The public listener's rate limit per client (an IPv4 address or an
	// IPv6 /64): a citizen opening a notice makes a handful of requests,
	// and behind a carrier's NAT many citizens share one address, so the
	// limit is set to stop scripts, not people.
	"POLICYPUSH_PUBLIC_RATE":     "10",
	"POLICYPUSH_PUBLIC_BURST":    "40",
	"POLICYPUSH_OIDC_ROLE_CLAIM": "policypush_role",
	"POLICYPUSH_PREVIEW_BUDGET":  "60s",
	// Digests (issue 13).
	"POLICYPUSH_DIGEST_WINDOW": "10m",
	// 90 days after the policy's validity ends.
	"POLICYPUSH_NOTICE_LINK_TTL": "2160h",
	// Comments on drafts (issue 15): a person writes one or two; a script
	// writes hundreds.
	"POLICYPUSH_COMMENT_RATE": "5/1h",
	// Cases (issue 14): 稳岗返还 lists are publicised for 5 working days.
	"POLICYPUSH_PUBLICITY_DAYS": "5",
}

// known lists every variable, so that a typo in a config file is caught.
var known = []string{
	"POLICYPUSH_DATABASE_URL", "POLICYPUSH_KAFKA_BROKERS", "POLICYPUSH_KAFKA_EMBEDDED_ADDR",
	"POLICYPUSH_KAFKA_TOPIC", "POLICYPUSH_KAFKA_GROUP", "POLICYPUSH_RULES_DIR", "POLICYPUSH_HTTP_ADDR",
	"POLICYPUSH_WECHAT_APPID", "POLICYPUSH_WECHAT_SECRET", "POLICYPUSH_WECHAT_TOKEN", "POLICYPUSH_WECHAT_AES_KEY",
	"POLICYPUSH_WECHAT_TEMPLATE_ID", "POLICYPUSH_WECHAT_API_BASE",
	"POLICYPUSH_SMS_PROVIDER", "POLICYPUSH_SMS_ENDPOINT", "POLICYPUSH_SMS_ACCESS_KEY_ID",
	"POLICYPUSH_SMS_ACCESS_KEY_SECRET", "POLICYPUSH_SMS_SIGN_NAME", "POLICYPUSH_SMS_TEMPLATE", "POLICYPUSH_SMS_APP_ID",
	"POLICYPUSH_QUIET_HOURS", "POLICYPUSH_FREQUENCY_CAP", "POLICYPUSH_WECHAT_RATE", "POLICYPUSH_SMS_RATE",
	"POLICYPUSH_PII_KEY", "POLICYPUSH_ADMIN_TOKEN", "POLICYPUSH_BATCH_SIZE", "POLICYPUSH_BATCH_WAIT",
	"POLICYPUSH_PUBLIC_URL", "POLICYPUSH_SWEEP_EVERY", "POLICYPUSH_SWEEP_WORKERS", "POLICYPUSH_SWEEP_CHUNK",
	"POLICYPUSH_SWEEP_PAUSE",
	"POLICYPUSH_KAFKA_TLS", "POLICYPUSH_KAFKA_TLS_CA", "POLICYPUSH_KAFKA_TLS_CERT", "POLICYPUSH_KAFKA_TLS_KEY",
	"POLICYPUSH_KAFKA_SASL_MECHANISM", "POLICYPUSH_KAFKA_SASL_USERNAME", "POLICYPUSH_KAFKA_SASL_PASSWORD",
	"POLICYPUSH_DISPATCH_LEASE",
	"POLICYPUSH_PUBLIC_ADDR", "POLICYPUSH_PUBLIC_RATE", "POLICYPUSH_PUBLIC_BURST", "POLICYPUSH_TRUSTED_PROXIES",
	"POLICYPUSH_SMS_CALLBACK_KEY", "POLICYPUSH_CALLBACK_ALLOW",
	"POLICYPUSH_CONSOLE_URL", "POLICYPUSH_OIDC_ISSUER", "POLICYPUSH_OIDC_CLIENT_ID", "POLICYPUSH_OIDC_CLIENT_SECRET",
	"POLICYPUSH_OIDC_ROLE_CLAIM",
	"POLICYPUSH_PII_KEYS",
	"POLICYPUSH_PREVIEW_BUDGET",
	"POLICYPUSH_DIGEST_WINDOW", "POLICYPUSH_WECHAT_DIGEST_TEMPLATE_ID", "POLICYPUSH_SMS_DIGEST_TEMPLATE",
	"POLICYPUSH_NOTICE_LINK_TTL",
	"POLICYPUSH_WECHAT_OPEN_BASE",
	"POLICYPUSH_COMMENT_RATE",
	"POLICYPUSH_PUBLICITY_DAYS",
}

// Need says which settings a command requires.
type Need int

// What commands need.
const (
	NeedDatabase Need = iota // migrate
	NeedServe                // serve: also the PII key and the admin token
	NeedPIIKey               // reseal: the database and the PII key
)

// Load reads the configuration: the file (a YAML mapping of the variable
// names above; "" for none), then the environment, which wins. Every
// problem is reported at once.
func Load(getenv func(string) string, file string, need Need) (*Config, error) {
	vals := map[string]string{}
	for k, v := range defaults {
		vals[k] = v
	}
	var problems []string
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
		isKnown := map[string]bool{}
		for _, k := range known {
			isKnown[k] = true
		}
		for k, v := range m {
			if !isKnown[k] {
				problems = append(problems, fmt.Sprintf("%s: unknown setting %s", file, k))
				continue
			}
			vals[k] = fmt.Sprint(v)
		}
	}
	for _, k := range known {
		if v := getenv(k); v != "" {
			vals[k] = v
		}
	}
	c, more := parse(vals, need)
	problems = append(problems, more...)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every problem in the configuration.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// ErrInvalid is matched by *Error.
var ErrInvalid = errors.New("invalid configuration")

// Is lets errors.Is(err, ErrInvalid) match.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

var hostPort = regexp.MustCompile(`^[^:\s]+:\d{1,5}$`)

func parse(v map[string]string, need Need) (*Config, []string) {
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	c := &Config{
		DatabaseURL:       Secret(v["POLICYPUSH_DATABASE_URL"]),
		KafkaEmbeddedAddr: v["POLICYPUSH_KAFKA_EMBEDDED_ADDR"],
		KafkaTopic:        v["POLICYPUSH_KAFKA_TOPIC"],
		KafkaGroup:        v["POLICYPUSH_KAFKA_GROUP"],
		RulesDir:          v["POLICYPUSH_RULES_DIR"],
		HTTPAddr:          v["POLICYPUSH_HTTP_ADDR"],

		WeChatAppID:      v["POLICYPUSH_WECHAT_APPID"],
		WeChatSecret:     Secret(v["POLICYPUSH_WECHAT_SECRET"]),
		WeChatToken:      Secret(v["POLICYPUSH_WECHAT_TOKEN"]),
		WeChatAESKey:     Secret(v["POLICYPUSH_WECHAT_AES_KEY"]),
		WeChatTemplateID: v["POLICYPUSH_WECHAT_TEMPLATE_ID"],
		WeChatAPIBase:    v["POLICYPUSH_WECHAT_API_BASE"],
		WeChatOpenBase:   v["POLICYPUSH_WECHAT_OPEN_BASE"],

		SMSProvider:        v["POLICYPUSH_SMS_PROVIDER"],
		SMSEndpoint:        v["POLICYPUSH_SMS_ENDPOINT"],
		SMSAccessKeyID:     v["POLICYPUSH_SMS_ACCESS_KEY_ID"],
		SMSAccessKeySecret: Secret(v["POLICYPUSH_SMS_ACCESS_KEY_SECRET"]),
		SMSSignName:        v["POLICYPUSH_SMS_SIGN_NAME"],
		SMSTemplate:        v["POLICYPUSH_SMS_TEMPLATE"],
		SMSAppID:           v["POLICYPUSH_SMS_APP_ID"],

		PIIKey:     Secret(v["POLICYPUSH_PII_KEY"]),
		AdminToken: Secret(v["POLICYPUSH_ADMIN_TOKEN"]),
		PublicURL:  strings.TrimRight(v["POLICYPUSH_PUBLIC_URL"], "/"),
	}
	c.PublicAddr = strings.TrimSpace(v["POLICYPUSH_PUBLIC_ADDR"])
	c.LinkPublicURL = c.PublicURL
	if c.PublicURL == "" {
		c.PublicURL = "http://" + v["POLICYPUSH_HTTP_ADDR"]
		if c.PublicAddr != "" { // short links are served there
			c.PublicURL = "http://" + c.PublicAddr
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("POLICYPUSH_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
	}
	if u, err := url.Parse(c.DatabaseURL.Value()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("POLICYPUSH_DATABASE_URL", "must be a postgres:// URL") // never echo it: it may hold a password
	}
	switch b := strings.TrimSpace(v["POLICYPUSH_KAFKA_BROKERS"]); b {
	case "embedded":
		c.KafkaEmbedded = true
		c.KafkaBrokers = []string{c.KafkaEmbeddedAddr}
		if !hostPort.MatchString(c.KafkaEmbeddedAddr) {
			bad("POLICYPUSH_KAFKA_EMBEDDED_ADDR", "%q is not host:port", c.KafkaEmbeddedAddr)
		}
	default:
		for _, s := range strings.Split(b, ",") {
			s = strings.TrimSpace(s)
			if !hostPort.MatchString(s) {
				bad("POLICYPUSH_KAFKA_BROKERS", "%q is not host:port (or use embedded)", s)
				continue
			}
			c.KafkaBrokers = append(c.KafkaBrokers, s)
		}
	}
	c.KafkaSecurity = parseKafkaSecurity(v, c.KafkaEmbedded, bad)
	for _, k := range []string{"POLICYPUSH_KAFKA_TOPIC", "POLICYPUSH_KAFKA_GROUP", "POLICYPUSH_RULES_DIR"} {
		if strings.TrimSpace(v[k]) == "" {
			bad(k, "must not be empty")
		}
	}
	if !hostPort.MatchString(c.HTTPAddr) && !strings.HasPrefix(c.HTTPAddr, ":") {
		bad("POLICYPUSH_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if u, err := url.Parse(c.WeChatAPIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("POLICYPUSH_WECHAT_API_BASE", "%q is not an http(s) URL", c.WeChatAPIBase)
	}
	if u, err := url.Parse(c.WeChatOpenBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		bad("POLICYPUSH_WECHAT_OPEN_BASE", "%q is not an http(s) URL without query or fragment", c.WeChatOpenBase)
	}
	if (c.WeChatAppID == "") != (c.WeChatSecret == "") {
		bad("POLICYPUSH_WECHAT_APPID", "the WeChat channel needs both POLICYPUSH_WECHAT_APPID and POLICYPUSH_WECHAT_SECRET")
	}
	switch c.SMSProvider {
	case "log":
	case "aliyun", "tencent":
		if c.SMSAccessKeyID == "" || c.SMSAccessKeySecret == "" || c.SMSSignName == "" {
			bad("POLICYPUSH_SMS_PROVIDER", "%s needs POLICYPUSH_SMS_ACCESS_KEY_ID, _ACCESS_KEY_SECRET and _SIGN_NAME", c.SMSProvider)
		}
		if c.SMSProvider == "tencent" && c.SMSAppID == "" {
			bad("POLICYPUSH_SMS_APP_ID", "tencent needs the SmsSdkAppId")
		}
	default:
		bad("POLICYPUSH_SMS_PROVIDER", "%q is not aliyun, tencent or log", c.SMSProvider)
	}
	c.SMSCallbackKey, c.CallbackAllow = parseCallbacks(v, c.SMSProvider, bad)
	if c.SMSEndpoint != "" {
		if u, err := url.Parse(c.SMSEndpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("POLICYPUSH_SMS_ENDPOINT", "%q is not an http(s) URL", c.SMSEndpoint)
		}
	}
	var err error
	if c.QuietHours, err = parseWindow(v["POLICYPUSH_QUIET_HOURS"]); err != nil {
		bad("POLICYPUSH_QUIET_HOURS", "%v", err)
	}
	if c.FrequencyCap, err = parseCap(v["POLICYPUSH_FREQUENCY_CAP"]); err != nil {
		bad("POLICYPUSH_FREQUENCY_CAP", "%v", err)
	}
	rate := func(name string) float64 {
		r, err := strconv.ParseFloat(v[name], 64)
		if err != nil || r <= 0 {
			bad(name, "%q is not a positive number of sends per second", v[name])
		}
		return r
	}
	c.WeChatRate, c.SMSRate = rate("POLICYPUSH_WECHAT_RATE"), rate("POLICYPUSH_SMS_RATE")
	if c.BatchSize, err = strconv.Atoi(v["POLICYPUSH_BATCH_SIZE"]); err != nil || c.BatchSize < 1 || c.BatchSize > 10000 {
		bad("POLICYPUSH_BATCH_SIZE", "%q is not a whole number from 1 to 10000", v["POLICYPUSH_BATCH_SIZE"])
	}
	if c.BatchWait, err = time.ParseDuration(v["POLICYPUSH_BATCH_WAIT"]); err != nil || c.BatchWait < 0 {
		bad("POLICYPUSH_BATCH_WAIT", "%q is not a duration such as 50ms", v["POLICYPUSH_BATCH_WAIT"])
	}
	if c.SweepEvery, err = time.ParseDuration(v["POLICYPUSH_SWEEP_EVERY"]); err != nil || c.SweepEvery < time.Minute ||
		(24*time.Hour)%c.SweepEvery != 0 && c.SweepEvery%(24*time.Hour) != 0 {
		bad("POLICYPUSH_SWEEP_EVERY", "%q is not a duration that divides a day or is a whole number of days, such as 24h or 6h", v["POLICYPUSH_SWEEP_EVERY"])
	}
	if v["POLICYPUSH_NOTICE_LINK_TTL"] != "off" {
		if c.NoticeLinkTTL, err = time.ParseDuration(v["POLICYPUSH_NOTICE_LINK_TTL"]); err != nil || c.NoticeLinkTTL <= 0 {
			bad("POLICYPUSH_NOTICE_LINK_TTL", "%q is not a positive duration such as 2160h, or off", v["POLICYPUSH_NOTICE_LINK_TTL"])
		}
	}
	if c.PublicityDays, err = strconv.Atoi(v["POLICYPUSH_PUBLICITY_DAYS"]); err != nil || c.PublicityDays < 0 || c.PublicityDays > 60 {
		bad("POLICYPUSH_PUBLICITY_DAYS", "%q is not a whole number of working days from 0 to 60, such as 5", v["POLICYPUSH_PUBLICITY_DAYS"])
	}
	if c.SweepWorkers, err = strconv.Atoi(v["POLICYPUSH_SWEEP_WORKERS"]); err != nil || c.SweepWorkers < 0 || c.SweepWorkers > 64 {
		bad("POLICYPUSH_SWEEP_WORKERS", "%q is not a whole number from 0 (sweeps run on other replicas) to 64", v["POLICYPUSH_SWEEP_WORKERS"])
	}
	if c.SweepChunk, err = strconv.Atoi(v["POLICYPUSH_SWEEP_CHUNK"]); err != nil || c.SweepChunk < 10 || c.SweepChunk > 100000 {
		bad("POLICYPUSH_SWEEP_CHUNK", "%q is not a whole number from 10 to 100000", v["POLICYPUSH_SWEEP_CHUNK"])
	}
	if c.SweepPause, err = time.ParseDuration(v["POLICYPUSH_SWEEP_PAUSE"]); err != nil || c.SweepPause < 0 {
		bad("POLICYPUSH_SWEEP_PAUSE", "%q is not a duration such as 0s or 100ms", v["POLICYPUSH_SWEEP_PAUSE"])
	}
	if c.DispatchLease, err = time.ParseDuration(v["POLICYPUSH_DISPATCH_LEASE"]); err != nil ||
		c.DispatchLease < time.Second || c.DispatchLease > 10*time.Minute {
		bad("POLICYPUSH_DISPATCH_LEASE", "%q is not a duration from 1s to 10m, such as 20s", v["POLICYPUSH_DISPATCH_LEASE"])
	}
	if c.CommentRate, err = parseCap(v["POLICYPUSH_COMMENT_RATE"]); err != nil {
		bad("POLICYPUSH_COMMENT_RATE", "%v", err)
	}
	if c.PreviewBudget, err = time.ParseDuration(v["POLICYPUSH_PREVIEW_BUDGET"]); err != nil ||
		c.PreviewBudget < time.Second || c.PreviewBudget > time.Hour {
		bad("POLICYPUSH_PREVIEW_BUDGET", "%q is not a duration from 1s to 1h, such as 60s", v["POLICYPUSH_PREVIEW_BUDGET"])
	}
	if w := v["POLICYPUSH_DIGEST_WINDOW"]; w != "off" {
		if c.DigestWindow, err = time.ParseDuration(w); err != nil || c.DigestWindow <= 0 || c.DigestWindow > 24*time.Hour {
			bad("POLICYPUSH_DIGEST_WINDOW", "%q is not off or a duration from 1s to 24h, such as 10m", w)
		}
	}
	c.WeChatDigestTemplate, c.SMSDigestTemplate = v["POLICYPUSH_WECHAT_DIGEST_TEMPLATE_ID"], v["POLICYPUSH_SMS_DIGEST_TEMPLATE"]
	parsePublic(v, c, bad)
	parseConsoleSignIn(c, v, bad)
	if need == NeedServe || need == NeedPIIKey {
		if c.PIIKey == "" {
			bad("POLICYPUSH_PII_KEY", "required: base64 of a 32-byte key (for example: openssl rand -base64 32)")
		} else if _, err := pii.ParseKey(c.PIIKey.Value()); err != nil {
			bad("POLICYPUSH_PII_KEY", "must be base64 of exactly 32 bytes")
		}
	}
	c.PIIOldKeys = parseOldKeys(v["POLICYPUSH_PII_KEYS"], c.PIIKey, bad)
	if need == NeedServe {
		if c.AdminToken == "" {
			bad("POLICYPUSH_ADMIN_TOKEN", "required: the bearer token of the admin API")
		} else if len(c.AdminToken) < 16 {
			bad("POLICYPUSH_ADMIN_TOKEN", "must be at least 16 characters")
		}
	}
	return c, problems
}

// parseCallbacks reads the SMS callback key, which a real provider needs
// (without it anyone can post opt-outs and delivery reports), and the
// networks callbacks may come from.
func parseCallbacks(v map[string]string, provider string, bad func(name, format string, args ...any)) (Secret, []netip.Prefix) {
	key := Secret(v["POLICYPUSH_SMS_CALLBACK_KEY"])
	switch {
	case key == "" && (provider == "aliyun" || provider == "tencent"):
		bad("POLICYPUSH_SMS_CALLBACK_KEY", "required when POLICYPUSH_SMS_PROVIDER is %s: the secret its callback URLs carry as ?key= (for example: openssl rand -hex 24)", provider)
	case key != "" && len(key) < 16:
		bad("POLICYPUSH_SMS_CALLBACK_KEY", "must be at least 16 characters")
	case strings.ContainsAny(key.Value(), "&#%+ \t\n"):
		// It goes into a URL as is: keep it to characters that need no escaping.
		bad("POLICYPUSH_SMS_CALLBACK_KEY", "must not contain &, #, %, + or spaces")
	}
	var allow []netip.Prefix
	for _, s := range strings.Split(v["POLICYPUSH_CALLBACK_ALLOW"], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			bad("POLICYPUSH_CALLBACK_ALLOW", "%q is not a CIDR such as 203.0.113.0/24", s)
			continue
		}
		allow = append(allow, p.Masked())
	}
	return key, allow
}

// parsePublic reads the public listener and its rate limit.
func parsePublic(v map[string]string, c *Config, bad func(name, format string, args ...any)) {
	if c.PublicAddr != "" {
		if !hostPort.MatchString(c.PublicAddr) && !strings.HasPrefix(c.PublicAddr, ":") {
			bad("POLICYPUSH_PUBLIC_ADDR", "%q is not host:port", c.PublicAddr)
		} else if sameListener(c.PublicAddr, c.HTTPAddr) {
			bad("POLICYPUSH_PUBLIC_ADDR", "%q is POLICYPUSH_HTTP_ADDR's too: the public listener needs its own address (or leave it unset for one listener)", c.PublicAddr)
		}
	}
	switch r := strings.TrimSpace(v["POLICYPUSH_PUBLIC_RATE"]); r {
	case "off":
	default:
		var err error
		if c.PublicRate, err = strconv.ParseFloat(r, 64); err != nil || c.PublicRate <= 0 {
			bad("POLICYPUSH_PUBLIC_RATE", "%q is not a positive number of requests per second per client, or off", r)
		}
		if c.PublicBurst, err = strconv.Atoi(strings.TrimSpace(v["POLICYPUSH_PUBLIC_BURST"])); err != nil || c.PublicBurst < 1 {
			bad("POLICYPUSH_PUBLIC_BURST", "%q is not a whole number of requests, 1 or more", v["POLICYPUSH_PUBLIC_BURST"])
		}
	}
	for _, s := range strings.Split(v["POLICYPUSH_TRUSTED_PROXIES"], ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				bad("POLICYPUSH_TRUSTED_PROXIES", "%q is not an address or a CIDR such as 10.0.0.0/8", s)
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
}

// sameListener reports whether two listen addresses would collide: the same
// port on the same host or on a wildcard one. Port 0 picks a free port
// each time, so it never collides.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}

// OIDCCallbackPath is the console's OIDC callback under ConsoleURL.
const OIDCCallbackPath = "/console/login/oidc/callback"

// OIDCEnabled reports whether officers may sign in through the identity
// provider.
func (c *Config) OIDCEnabled() bool { return c.OIDCIssuer != "" }

// parseConsoleSignIn reads where the console is reached and the optional
// OIDC sign-in.
func parseConsoleSignIn(c *Config, v map[string]string, bad func(name, format string, args ...any)) {
	c.ConsoleURL = strings.TrimRight(v["POLICYPUSH_CONSOLE_URL"], "/")
	// With a public listener apart, the console is on the internal one,
	// not at the public URL.
	explicit := c.ConsoleURL != "" || (v["POLICYPUSH_PUBLIC_URL"] != "" && c.PublicAddr == "")
	switch {
	case c.ConsoleURL != "":
		if u, err := url.Parse(c.ConsoleURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("POLICYPUSH_CONSOLE_URL", "%q is not an http(s) URL", c.ConsoleURL)
		}
	case c.PublicAddr != "":
		c.ConsoleURL = "http://" + c.HTTPAddr
	default:
		c.ConsoleURL = c.PublicURL
	}
	c.OIDCIssuer = strings.TrimSpace(v["POLICYPUSH_OIDC_ISSUER"])
	c.OIDCClientID = v["POLICYPUSH_OIDC_CLIENT_ID"]
	c.OIDCClientSecret = Secret(v["POLICYPUSH_OIDC_CLIENT_SECRET"])
	c.OIDCRoleClaim = strings.TrimSpace(v["POLICYPUSH_OIDC_ROLE_CLAIM"])
	if c.OIDCIssuer == "" {
		if c.OIDCClientID != "" || c.OIDCClientSecret != "" {
			bad("POLICYPUSH_OIDC_ISSUER", "required when POLICYPUSH_OIDC_CLIENT_ID or _CLIENT_SECRET is set")
		}
		return
	}
	// Plain http only to this machine (a provider under test): elsewhere
	// it would carry the client secret and the ID token in clear.
	if u, err := url.Parse(c.OIDCIssuer); err != nil || u.Host == "" ||
		(u.Scheme != "https" && (u.Scheme != "http" || !loopback(u.Hostname()))) {
		bad("POLICYPUSH_OIDC_ISSUER", "%q is not an https URL (http only for localhost)", c.OIDCIssuer)
	}
	if c.OIDCClientID == "" || c.OIDCClientSecret == "" {
		bad("POLICYPUSH_OIDC_ISSUER", "OIDC sign-in needs POLICYPUSH_OIDC_CLIENT_ID and POLICYPUSH_OIDC_CLIENT_SECRET")
	}
	if c.OIDCRoleClaim == "" {
		bad("POLICYPUSH_OIDC_ROLE_CLAIM", "must not be empty")
	}
	if !explicit {
		bad("POLICYPUSH_OIDC_ISSUER", "OIDC sign-in needs POLICYPUSH_CONSOLE_URL (or POLICYPUSH_PUBLIC_URL): "+
			"the provider redirects officers back to it, at %s", OIDCCallbackPath)
	}
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// parseOldKeys reads POLICYPUSH_PII_KEYS, comma-separated base64 keys. Each
// must be 32 bytes and given once, and none the current key: a key is
// named by its place in the list, never shown.
func parseOldKeys(list string, current Secret, bad func(name, format string, args ...any)) []Secret {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	cur, _ := pii.ParseKey(current.Value())
	var (
		out  []Secret
		seen [][]byte
	)
	for n, item := range strings.Split(list, ",") {
		key, err := pii.ParseKey(item)
		if err != nil {
			bad("POLICYPUSH_PII_KEYS", "key %d must be base64 of exactly 32 bytes", n+1)
			continue
		}
		switch {
		case cur != nil && bytes.Equal(key, cur):
			bad("POLICYPUSH_PII_KEYS", "key %d is POLICYPUSH_PII_KEY itself; list only the old keys", n+1)
			continue
		case slices.ContainsFunc(seen, func(k []byte) bool { return bytes.Equal(k, key) }):
			bad("POLICYPUSH_PII_KEYS", "key %d is listed twice", n+1)
			continue
		}
		seen = append(seen, key)
		out = append(out, Secret(strings.TrimSpace(item)))
	}
	return out
}

// PIISealer returns the sealer of personal data: PIIKey current, the keys
// of PIIOldKeys for reading. It is nil without a PIIKey (migrate).
func (c *Config) PIISealer() (*pii.Sealer, error) {
	if c.PIIKey == "" {
		return nil, nil
	}
	key, err := pii.ParseKey(c.PIIKey.Value())
	if err != nil {
		return nil, fmt.Errorf("POLICYPUSH_PII_KEY: %w", err)
	}
	old := make([][]byte, 0, len(c.PIIOldKeys))
	for n, s := range c.PIIOldKeys {
		k, err := pii.ParseKey(s.Value())
		if err != nil {
			return nil, fmt.Errorf("POLICYPUSH_PII_KEYS: key %d: %w", n+1, err)
		}
		old = append(old, k)
	}
	sealer, err := pii.NewSealer(key, old...)
	if err != nil {
		return nil, fmt.Errorf("POLICYPUSH_PII_KEY and POLICYPUSH_PII_KEYS: %w", err)
	}
	return sealer, nil
}

// parseKafkaSecurity reads TLS and SASL to the cluster. The embedded broker
// speaks neither, so asking for them there is a mistake worth stopping on.
func parseKafkaSecurity(v map[string]string, embedded bool, bad func(name, format string, args ...any)) kafkasec.Settings {
	s := kafkasec.Settings{
		CAFile:    v["POLICYPUSH_KAFKA_TLS_CA"],
		CertFile:  v["POLICYPUSH_KAFKA_TLS_CERT"],
		KeyFile:   v["POLICYPUSH_KAFKA_TLS_KEY"],
		Mechanism: strings.ToUpper(strings.TrimSpace(v["POLICYPUSH_KAFKA_SASL_MECHANISM"])),
		Username:  v["POLICYPUSH_KAFKA_SASL_USERNAME"],
		Password:  v["POLICYPUSH_KAFKA_SASL_PASSWORD"],
	}
	switch v["POLICYPUSH_KAFKA_TLS"] {
	case "on":
		s.TLS = true
	case "off":
	default:
		bad("POLICYPUSH_KAFKA_TLS", "%q is not on or off", v["POLICYPUSH_KAFKA_TLS"])
	}
	if !s.TLS && (s.CAFile != "" || s.CertFile != "" || s.KeyFile != "") {
		bad("POLICYPUSH_KAFKA_TLS", "POLICYPUSH_KAFKA_TLS_CA, _CERT or _KEY is set but TLS is off")
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		bad("POLICYPUSH_KAFKA_TLS_CERT", "a client certificate needs both POLICYPUSH_KAFKA_TLS_CERT and POLICYPUSH_KAFKA_TLS_KEY")
	}
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" {
			bad("POLICYPUSH_KAFKA_SASL_MECHANISM", "required when POLICYPUSH_KAFKA_SASL_USERNAME or _PASSWORD is set")
		}
	case kafkasec.Plain, kafkasec.ScramSHA256, kafkasec.ScramSHA512:
		if s.Username == "" || s.Password == "" {
			bad("POLICYPUSH_KAFKA_SASL_MECHANISM", "%s needs POLICYPUSH_KAFKA_SASL_USERNAME and _PASSWORD", s.Mechanism)
		}
	default:
		bad("POLICYPUSH_KAFKA_SASL_MECHANISM", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	if embedded && (s.TLS || s.Mechanism != "") {
		bad("POLICYPUSH_KAFKA_BROKERS", "the embedded broker speaks neither TLS nor SASL; name the cluster's brokers")
	}
	return s
}

func parseWindow(s string) (Window, error) {
	if s == "off" {
		return Window{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	f, err1 := clock(from)
	t, err2 := clock(to)
	if !ok || err1 != nil || err2 != nil || f == t {
		return Window{}, fmt.Errorf("%q is not a window such as 21:00-08:00, or off", s)
	}
	return Window{From: f, To: t, On: true}, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Contains reports whether the local time of day d falls in the window.
func (w Window) Contains(d time.Duration) bool {
	if !w.On {
		return false
	}
	if w.From < w.To {
		return d >= w.From && d < w.To
	}
	return d >= w.From || d < w.To // across midnight
}

func parseCap(s string) (Cap, error) {
	if s == "off" {
		return Cap{}, nil
	}
	n, p, ok := strings.Cut(s, "/")
	count, err1 := strconv.Atoi(n)
	period, err2 := time.ParseDuration(p)
	if !ok || err1 != nil || err2 != nil || count < 1 || period <= 0 {
		return Cap{}, fmt.Errorf("%q is not a cap such as 3/168h, or off", s)
	}
	return Cap{N: count, Period: period}, nil
}

// LintPublicURL is POLICYPUSH_PUBLIC_URL of getenv for policyctl lint,
// which reads no other setting: "" when unset, an error when it is not an
// http(s) URL.
func LintPublicURL(getenv func(string) string) (string, error) {
	raw := strings.TrimRight(strings.TrimSpace(getenv("POLICYPUSH_PUBLIC_URL")), "/")
	if raw == "" {
		return "", nil
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", &Error{Problems: []string{fmt.Sprintf("POLICYPUSH_PUBLIC_URL: %q is not an http(s) URL", raw)}}
	}
	return raw, nil
}

package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if !c.KafkaEmbedded || c.KafkaBrokers[0] != "127.0.0.1:9092" || c.KafkaTopic != "profile-events" ||
		c.KafkaGroup != "policypush" || c.RulesDir != "rules" || c.HTTPAddr != "127.0.0.1:8080" ||
		c.SMSProvider != "log" || c.WeChatRate != 50 || c.FrequencyCap != (Cap{3, 168 * time.Hour}) ||
		c.QuietHours != (Window{21 * time.Hour, 8 * time.Hour, true}) || c.WeChatEnabled() {
		t.Errorf("defaults: %+v", c)
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		need Need
		want []string // fragments, one per problem
	}{
		{"serve needs secrets", nil, NeedServe, []string{"POLICYPUSH_PII_KEY: required", "POLICYPUSH_ADMIN_TOKEN: required"}},
		{"short key", map[string]string{"POLICYPUSH_PII_KEY": "c2hvcnQ=", "POLICYPUSH_ADMIN_TOKEN": "0123456789abcdef"}, NeedServe, []string{"exactly 32 bytes"}},
		{"bad values", map[string]string{
			"POLICYPUSH_DATABASE_URL":  "mysql://root:hunter2@x/db",
			"POLICYPUSH_KAFKA_BROKERS": "a:1,nope",
			"POLICYPUSH_QUIET_HOURS":   "late",
			"POLICYPUSH_FREQUENCY_CAP": "3 per week",
			"POLICYPUSH_SMS_PROVIDER":  "pigeon",
			"POLICYPUSH_WECHAT_RATE":   "-1",
			"POLICYPUSH_WECHAT_APPID":  "wx1",
		}, NeedDatabase, []string{"POLICYPUSH_DATABASE_URL", `"nope" is not host:port`, "POLICYPUSH_QUIET_HOURS", "POLICYPUSH_FREQUENCY_CAP", "POLICYPUSH_SMS_PROVIDER", "POLICYPUSH_WECHAT_RATE", "both POLICYPUSH_WECHAT_APPID"}},
		{"kafka security", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":        "k1:9093",
			"POLICYPUSH_KAFKA_TLS":            "yes",
			"POLICYPUSH_KAFKA_TLS_CERT":       "client.pem",
			"POLICYPUSH_KAFKA_SASL_MECHANISM": "GSSAPI",
			"POLICYPUSH_KAFKA_SASL_PASSWORD":  "hunter2",
		}, NeedDatabase, []string{`"yes" is not on or off`, "set but TLS is off", "both POLICYPUSH_KAFKA_TLS_CERT and POLICYPUSH_KAFKA_TLS_KEY", `"GSSAPI" is not PLAIN`}},
		{"kafka sasl incomplete", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":        "k1:9093",
			"POLICYPUSH_KAFKA_SASL_MECHANISM": "scram-sha-512",
			"POLICYPUSH_KAFKA_SASL_USERNAME":  "svc",
		}, NeedDatabase, []string{"SCRAM-SHA-512 needs POLICYPUSH_KAFKA_SASL_USERNAME and _PASSWORD"}},
		{"kafka password without mechanism", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":       "k1:9093",
			"POLICYPUSH_KAFKA_SASL_PASSWORD": "hunter2",
		}, NeedDatabase, []string{"required when POLICYPUSH_KAFKA_SASL_USERNAME or _PASSWORD is set"}},
		{"kafka client certificate without its key", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":  "k1:9093",
			"POLICYPUSH_KAFKA_TLS":      "on",
			"POLICYPUSH_KAFKA_TLS_CERT": "client.pem",
		}, NeedDatabase, []string{"both POLICYPUSH_KAFKA_TLS_CERT and POLICYPUSH_KAFKA_TLS_KEY"}},
		{"kafka client key without its certificate", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS": "k1:9093",
			"POLICYPUSH_KAFKA_TLS":     "on",
			"POLICYPUSH_KAFKA_TLS_KEY": "client.key",
		}, NeedDatabase, []string{"both POLICYPUSH_KAFKA_TLS_CERT and POLICYPUSH_KAFKA_TLS_KEY"}},
		{"kafka CA with tls off", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS": "k1:9093",
			"POLICYPUSH_KAFKA_TLS_CA":  "ca.pem",
		}, NeedDatabase, []string{"set but TLS is off"}},
		{"kafka username without mechanism", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":       "k1:9093",
			"POLICYPUSH_KAFKA_SASL_USERNAME": "svc",
		}, NeedDatabase, []string{"required when POLICYPUSH_KAFKA_SASL_USERNAME or _PASSWORD is set"}},
		{"kafka plain without username", map[string]string{
			"POLICYPUSH_KAFKA_BROKERS":        "k1:9093",
			"POLICYPUSH_KAFKA_SASL_MECHANISM": "PLAIN",
			"POLICYPUSH_KAFKA_SASL_PASSWORD":  "hunter2",
		}, NeedDatabase, []string{"PLAIN needs POLICYPUSH_KAFKA_SASL_USERNAME and _PASSWORD"}},
		{"embedded with tls", map[string]string{"POLICYPUSH_KAFKA_TLS": "on"}, NeedDatabase, []string{"the embedded broker speaks neither"}},
		{"aliyun without a callback key", map[string]string{
			"POLICYPUSH_SMS_PROVIDER": "aliyun", "POLICYPUSH_SMS_ACCESS_KEY_ID": "id", "POLICYPUSH_SMS_ACCESS_KEY_SECRET": "hunter2", "POLICYPUSH_SMS_SIGN_NAME": "s",
		}, NeedDatabase, []string{"POLICYPUSH_SMS_CALLBACK_KEY: required when POLICYPUSH_SMS_PROVIDER is aliyun"}},
		{"tencent without a callback key", map[string]string{
			"POLICYPUSH_SMS_PROVIDER": "tencent", "POLICYPUSH_SMS_ACCESS_KEY_ID": "id", "POLICYPUSH_SMS_ACCESS_KEY_SECRET": "hunter2", "POLICYPUSH_SMS_SIGN_NAME": "s",
			"POLICYPUSH_SMS_APP_ID": "1400000000",
		}, NeedDatabase, []string{"POLICYPUSH_SMS_CALLBACK_KEY: required when POLICYPUSH_SMS_PROVIDER is tencent"}},
		{"short callback key", map[string]string{"POLICYPUSH_SMS_CALLBACK_KEY": "hunter2"}, NeedDatabase, []string{"at least 16 characters"}},
		{"callback key that needs escaping", map[string]string{"POLICYPUSH_SMS_CALLBACK_KEY": "hunter2hunter2&x=1"}, NeedDatabase, []string{"must not contain &"}},
		{"bad callback networks", map[string]string{"POLICYPUSH_CALLBACK_ALLOW": "203.0.113.0/24, 10.0.0.1,2001:db8::/129"}, NeedDatabase,
			[]string{`"10.0.0.1" is not a CIDR`, `"2001:db8::/129" is not a CIDR`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env), "", tt.need)
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) || len(ce.Problems) != len(tt.want) {
				t.Fatalf("want %d problems, got %v", len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error shows the database password")
			}
		})
	}
}

func TestCallbacks(t *testing.T) {
	c, err := Load(env(map[string]string{
		"POLICYPUSH_SMS_PROVIDER": "aliyun", "POLICYPUSH_SMS_ACCESS_KEY_ID": "id", "POLICYPUSH_SMS_ACCESS_KEY_SECRET": "secret", "POLICYPUSH_SMS_SIGN_NAME": "s",
		"POLICYPUSH_SMS_CALLBACK_KEY": "callback-key-0123456789",
		"POLICYPUSH_CALLBACK_ALLOW":   " 203.0.113.9/24 ,2001:db8::/32,",
	}), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMSCallbackKey.Value() != "callback-key-0123456789" || fmt.Sprint(c.CallbackAllow) != "[203.0.113.0/24 2001:db8::/32]" {
		t.Errorf("key %q, allow %v", c.SMSCallbackKey.Value(), c.CallbackAllow)
	}
	if s := fmt.Sprintf("%v %+v %#v", c.SMSCallbackKey, *c, *c); strings.Contains(s, "callback-key") {
		t.Errorf("the callback key shows: %s", s)
	}
}

func TestKafkaSecurity(t *testing.T) {
	c, err := Load(env(map[string]string{
		"POLICYPUSH_KAFKA_BROKERS":        "k1:9093,k2:9093",
		"POLICYPUSH_KAFKA_TLS":            "on",
		"POLICYPUSH_KAFKA_TLS_CA":         "/etc/kafka/ca.pem",
		"POLICYPUSH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
		"POLICYPUSH_KAFKA_SASL_USERNAME":  "policypush",
		"POLICYPUSH_KAFKA_SASL_PASSWORD":  "hunter2",
	}), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	s := c.KafkaSecurity
	if !s.TLS || s.CAFile != "/etc/kafka/ca.pem" || s.Mechanism != "SCRAM-SHA-256" || s.Username != "policypush" || s.Password != "hunter2" {
		t.Errorf("KafkaSecurity = %s", s)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, c); strings.Contains(out, "hunter2") {
			t.Errorf("%s of the config shows the SASL password", f)
		}
	}
	if d, _ := Load(env(nil), "", NeedDatabase); d.KafkaSecurity.TLS || d.KafkaSecurity.Mechanism != "" {
		t.Errorf("default KafkaSecurity = %s, want plaintext", d.KafkaSecurity)
	}
}

func TestFileAndEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policypush.yaml")
	body := "POLICYPUSH_KAFKA_BROKERS: k1:9092,k2:9092\nPOLICYPUSH_HTTP_ADDR: 0.0.0.0:9000\nPOLICYPUSH_PII_KEY: " + goodKey + "\nPOLICYPUSH_ADMIN_TOKEN: s3cr3t-t0ken-0123\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"POLICYPUSH_HTTP_ADDR": "127.0.0.1:7000"}), file, NeedServe)
	if err != nil {
		t.Fatal(err)
	}
	if c.KafkaEmbedded || strings.Join(c.KafkaBrokers, ",") != "k1:9092,k2:9092" || c.HTTPAddr != "127.0.0.1:7000" {
		t.Errorf("file then environment: %+v", c)
	}
	if s := fmt.Sprintf("%v %+v %#v", c.AdminToken, c, c); strings.Contains(s, "s3cr3t") || strings.Contains(s, goodKey) {
		t.Errorf("a secret is printed: %s", s)
	}
	if err := os.WriteFile(file, []byte("POLICYPUSH_HTTP_ADR: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(env(nil), file, NeedDatabase); err == nil || !strings.Contains(err.Error(), "unknown setting POLICYPUSH_HTTP_ADR") {
		t.Errorf("want the typo reported, got %v", err)
	}
}

func TestWindow(t *testing.T) {
	w, _ := parseWindow("21:00-08:00")
	for h, want := range map[int]bool{20: false, 21: true, 23: true, 0: true, 7: true, 8: false, 12: false} {
		if got := w.Contains(time.Duration(h) * time.Hour); got != want {
			t.Errorf("%02d:00 in 21:00-08:00 = %v", h, got)
		}
	}
	day, _ := parseWindow("12:00-13:30")
	if !day.Contains(13*time.Hour) || day.Contains(14*time.Hour) {
		t.Error("a window within a day")
	}
	if off, _ := parseWindow("off"); off.Contains(0) {
		t.Error("off contains nothing")
	}
}

func TestDispatchLease(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		problem bool
	}{
		{"", 20 * time.Second, false},
		{"3s", 3 * time.Second, false},
		{"10m", 10 * time.Minute, false},
		{"500ms", 0, true},
		{"11m", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			e := map[string]string{}
			if tt.value != "" {
				e["POLICYPUSH_DISPATCH_LEASE"] = tt.value
			}
			c, err := Load(env(e), "", NeedDatabase)
			if tt.problem {
				if err == nil || !strings.Contains(err.Error(), "POLICYPUSH_DISPATCH_LEASE") {
					t.Fatalf("want a POLICYPUSH_DISPATCH_LEASE problem, got %v", err)
				}
				return
			}
			if err != nil || c.DispatchLease != tt.want {
				t.Fatalf("lease %v, %v; want %v", c.DispatchLease, err, tt.want)
			}
		})
	}
}

// TestPublicListener: the public listener's address must differ from the
// internal one's; its rate limit parses, or is off; trusted proxies are
// addresses or CIDRs; short links default to the public listener.
func TestPublicListener(t *testing.T) {
	c, err := Load(env(nil), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicAddr != "" || c.PublicRate != 10 || c.PublicBurst != 40 || c.TrustedProxies != nil {
		t.Errorf("defaults: addr %q rate %v burst %d proxies %v", c.PublicAddr, c.PublicRate, c.PublicBurst, c.TrustedProxies)
	}
	c, err = Load(env(map[string]string{
		"POLICYPUSH_HTTP_ADDR": "10.0.0.5:8080", "POLICYPUSH_PUBLIC_ADDR": "0.0.0.0:8443",
		"POLICYPUSH_PUBLIC_RATE": "off", "POLICYPUSH_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,2001:db8::/32",
	}), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicAddr != "0.0.0.0:8443" || c.PublicRate != 0 || c.PublicURL != "http://0.0.0.0:8443" ||
		fmt.Sprint(c.TrustedProxies) != "[10.0.0.0/8 192.0.2.1/32 2001:db8::/32]" {
		t.Errorf("got addr %q rate %v url %q proxies %v", c.PublicAddr, c.PublicRate, c.PublicURL, c.TrustedProxies)
	}
	// Two ephemeral ports are two listeners.
	if _, err := Load(env(map[string]string{"POLICYPUSH_HTTP_ADDR": "127.0.0.1:0", "POLICYPUSH_PUBLIC_ADDR": "127.0.0.1:0"}), "", NeedDatabase); err != nil {
		t.Errorf("port 0 twice: %v", err)
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"the same address", map[string]string{"POLICYPUSH_HTTP_ADDR": "127.0.0.1:8080", "POLICYPUSH_PUBLIC_ADDR": "127.0.0.1:8080"},
			[]string{"POLICYPUSH_PUBLIC_ADDR: \"127.0.0.1:8080\" is POLICYPUSH_HTTP_ADDR's too"}},
		{"a wildcard over it", map[string]string{"POLICYPUSH_HTTP_ADDR": "127.0.0.1:8080", "POLICYPUSH_PUBLIC_ADDR": ":8080"},
			[]string{"is POLICYPUSH_HTTP_ADDR's too"}},
		{"bad values", map[string]string{"POLICYPUSH_PUBLIC_ADDR": "public", "POLICYPUSH_PUBLIC_RATE": "fast",
			"POLICYPUSH_PUBLIC_BURST": "0", "POLICYPUSH_TRUSTED_PROXIES": "10.0.0.0/8,lb"},
			[]string{`"public" is not host:port`, `"fast" is not a positive number`, `POLICYPUSH_PUBLIC_BURST: "0"`, `"lb" is not an address or a CIDR`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(env(c.env), "", NeedDatabase)
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(c.want) {
				t.Fatalf("got %v, want %d problems", err, len(c.want))
			}
			for i, w := range c.want {
				if !strings.Contains(ce.Problems[i], w) {
					t.Errorf("problem %q does not say %q", ce.Problems[i], w)
				}
			}
		})
	}
}

// TestConsoleSignIn: where the console is reached, and OIDC sign-in with
// everything it needs, or a problem for each thing it lacks.
func TestConsoleSignIn(t *testing.T) {
	d, err := Load(env(nil), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if d.ConsoleURL != "http://127.0.0.1:8080" || d.OIDCEnabled() || d.OIDCRoleClaim != "policypush_role" {
		t.Errorf("defaults: console %q, OIDC %v, role claim %q", d.ConsoleURL, d.OIDCEnabled(), d.OIDCRoleClaim)
	}
	c, err := Load(env(map[string]string{
		"POLICYPUSH_PUBLIC_URL":         "https://notices.example.gov.cn",
		"POLICYPUSH_CONSOLE_URL":        "https://console.example.gov.cn/",
		"POLICYPUSH_OIDC_ISSUER":        "https://sso.example.gov.cn/realms/hrss",
		"POLICYPUSH_OIDC_CLIENT_ID":     "policypush",
		"POLICYPUSH_OIDC_CLIENT_SECRET": "hunter2",
		"POLICYPUSH_OIDC_ROLE_CLAIM":    "realm_access.roles",
	}), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if c.ConsoleURL != "https://console.example.gov.cn" || !c.OIDCEnabled() || c.OIDCClientID != "policypush" ||
		c.OIDCClientSecret.Value() != "hunter2" || c.OIDCRoleClaim != "realm_access.roles" {
		t.Errorf("config: %+v", c)
	}
	if out := fmt.Sprintf("%+v %#v", c, c); strings.Contains(out, "hunter2") {
		t.Error("the config shows the OIDC client secret")
	}
	if p, _ := Load(env(map[string]string{"POLICYPUSH_PUBLIC_URL": "https://x.example"}), "", NeedDatabase); p.ConsoleURL != "https://x.example" {
		t.Errorf("console URL defaults to %q, want the public URL", p.ConsoleURL)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"issuer alone", map[string]string{"POLICYPUSH_OIDC_ISSUER": "https://sso.example"},
			[]string{"needs POLICYPUSH_OIDC_CLIENT_ID and POLICYPUSH_OIDC_CLIENT_SECRET", "needs POLICYPUSH_CONSOLE_URL"}},
		{"client without issuer", map[string]string{"POLICYPUSH_OIDC_CLIENT_ID": "x", "POLICYPUSH_OIDC_CLIENT_SECRET": "hunter2"},
			[]string{"POLICYPUSH_OIDC_ISSUER: required"}},
		{"plain http issuer", map[string]string{"POLICYPUSH_OIDC_ISSUER": "http://sso.example", "POLICYPUSH_OIDC_CLIENT_ID": "x",
			"POLICYPUSH_OIDC_CLIENT_SECRET": "hunter2", "POLICYPUSH_CONSOLE_URL": "https://c.example"}, []string{"not an https URL"}},
		{"bad console URL", map[string]string{"POLICYPUSH_CONSOLE_URL": "console.example"}, []string{"POLICYPUSH_CONSOLE_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env), "", NeedDatabase)
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(tc.want) {
				t.Fatalf("want %d problems, got %v", len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("the error shows the client secret")
			}
		})
	}
	// A provider on this machine may speak plain http (one under test).
	if _, err := Load(env(map[string]string{"POLICYPUSH_OIDC_ISSUER": "http://127.0.0.1:5556", "POLICYPUSH_OIDC_CLIENT_ID": "x",
		"POLICYPUSH_OIDC_CLIENT_SECRET": "y", "POLICYPUSH_CONSOLE_URL": "http://127.0.0.1:8080"}), "", NeedDatabase); err != nil {
		t.Errorf("a local http issuer: %v", err)
	}
}

// POLICYPUSH_PII_KEYS lists old keys: each 32 bytes, given once, none the
// current key; problems name a key by its place, never show it.
func TestPIIOldKeys(t *testing.T) {
	const (
		keyB = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
		keyC = "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0M="
	)
	tests := []struct {
		name string
		keys string
		want []string // problem fragments; none: valid
		old  int
	}{
		{"none", "", nil, 0},
		{"two", keyB + ", " + keyC, nil, 2},
		{"short", keyB + ",c2hvcnQ=", []string{"POLICYPUSH_PII_KEYS: key 2 must be base64 of exactly 32 bytes"}, 0},
		{"current again", keyB + "," + goodKey, []string{"key 2 is POLICYPUSH_PII_KEY itself"}, 0},
		{"twice", keyB + "," + keyC + "," + keyB, []string{"key 3 is listed twice"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"POLICYPUSH_PII_KEY": goodKey, "POLICYPUSH_PII_KEYS": tt.keys}), "", NeedPIIKey)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				s, err := c.PIISealer()
				if err != nil || len(c.PIIOldKeys) != tt.old || len(s.OldKeyIDs()) != tt.old {
					t.Errorf("%d old keys, sealer %v (%v); want %d", len(c.PIIOldKeys), s, err, tt.old)
				}
				if strings.Contains(fmt.Sprint(c.PIIOldKeys), "QkJC") {
					t.Error("the old keys print")
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != len(tt.want) {
				t.Fatalf("want %d problems, got %v", len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "QkJC") || strings.Contains(err.Error(), "MDEy") {
				t.Errorf("the error %q shows a key", err)
			}
		})
	}
	// reseal needs the key but not the admin token.
	if _, err := Load(env(map[string]string{"POLICYPUSH_PII_KEY": goodKey}), "", NeedPIIKey); err != nil {
		t.Errorf("reseal's configuration: %v", err)
	}
	if _, err := Load(env(nil), "", NeedPIIKey); err == nil || !strings.Contains(err.Error(), "POLICYPUSH_PII_KEY: required") {
		t.Errorf("reseal without a key: %v", err)
	}
}

// TestDigestWindow: the digest window is a duration, 10m by default, or
// off; the digest templates are read as given.
func TestDigestWindow(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		problem bool
	}{
		{"", 10 * time.Minute, false},
		{"off", 0, false},
		{"30s", 30 * time.Second, false},
		{"0s", 0, true},
		{"25h", 0, true},
		{"soon", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			e := map[string]string{"POLICYPUSH_WECHAT_DIGEST_TEMPLATE_ID": "TPL_D", "POLICYPUSH_SMS_DIGEST_TEMPLATE": "SMS_D"}
			if tt.value != "" {
				e["POLICYPUSH_DIGEST_WINDOW"] = tt.value
			}
			c, err := Load(env(e), "", NeedDatabase)
			if tt.problem {
				if err == nil || !strings.Contains(err.Error(), "POLICYPUSH_DIGEST_WINDOW") {
					t.Fatalf("want a POLICYPUSH_DIGEST_WINDOW problem, got %v", err)
				}
				return
			}
			if err != nil || c.DigestWindow != tt.want || c.WeChatDigestTemplate != "TPL_D" || c.SMSDigestTemplate != "SMS_D" {
				t.Fatalf("window %v, templates %q %q, %v; want %v", c.DigestWindow, c.WeChatDigestTemplate, c.SMSDigestTemplate, err, tt.want)
			}
		})
	}
}

func TestNoticeLinkTTL(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{"", 90 * 24 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"off", 0, false},
		{"0s", 0, true},
		{"-1h", 0, true},
		{"90d", 0, true},
	} {
		c, err := Load(env(map[string]string{"POLICYPUSH_NOTICE_LINK_TTL": tt.value}), "", NeedDatabase)
		switch {
		case tt.bad && (err == nil || !strings.Contains(err.Error(), "POLICYPUSH_NOTICE_LINK_TTL")):
			t.Errorf("%q: %v, want a problem naming the variable", tt.value, err)
		case !tt.bad && err != nil:
			t.Errorf("%q: %v", tt.value, err)
		case !tt.bad && c.NoticeLinkTTL != tt.want:
			t.Errorf("%q: %v, want %v", tt.value, c.NoticeLinkTTL, tt.want)
		}
	}
}

func TestWeChatOpenBase(t *testing.T) {
	c, err := Load(env(nil), "", NeedDatabase)
	if err != nil {
		t.Fatal(err)
	}
	if c.WeChatOpenBase != "https://open.weixin.qq.com" {
		t.Errorf("default POLICYPUSH_WECHAT_OPEN_BASE = %q", c.WeChatOpenBase)
	}
	c, err = Load(env(map[string]string{"POLICYPUSH_WECHAT_OPEN_BASE": "http://127.0.0.1:9999/open"}), "", NeedDatabase)
	if err != nil || c.WeChatOpenBase != "http://127.0.0.1:9999/open" {
		t.Errorf("a fake's base: %q, %v", c.WeChatOpenBase, err)
	}
	for _, bad := range []string{"open.weixin.qq.com", "ftp://open.weixin.qq.com", "https://", "https://x/?a=1", "https://x/#f"} {
		_, err := Load(env(map[string]string{"POLICYPUSH_WECHAT_OPEN_BASE": bad}), "", NeedDatabase)
		if err == nil || !strings.Contains(err.Error(), "POLICYPUSH_WECHAT_OPEN_BASE") {
			t.Errorf("POLICYPUSH_WECHAT_OPEN_BASE=%q: %v, want refused", bad, err)
		}
	}
}

// TestLinkPublicURL: the rules count {{link}} by POLICYPUSH_PUBLIC_URL as
// set, never by the URL derived from the listen address.
func TestLinkPublicURL(t *testing.T) {
	c, err := Load(env(nil), "", NeedDatabase)
	if err != nil || c.LinkPublicURL != "" || c.PublicURL == "" {
		t.Errorf("unset: LinkPublicURL %q (PublicURL %q), %v", c.LinkPublicURL, c.PublicURL, err)
	}
	c, err = Load(env(map[string]string{"POLICYPUSH_PUBLIC_URL": "https://rs.sz.gov.cn/"}), "", NeedDatabase)
	if err != nil || c.LinkPublicURL != "https://rs.sz.gov.cn" {
		t.Errorf("set: LinkPublicURL %q, %v", c.LinkPublicURL, err)
	}
	for in, want := range map[string]string{"": "", " https://rs.sz.gov.cn/ ": "https://rs.sz.gov.cn"} {
		got, err := LintPublicURL(env(map[string]string{"POLICYPUSH_PUBLIC_URL": in}))
		if err != nil || got != want {
			t.Errorf("LintPublicURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := LintPublicURL(env(map[string]string{"POLICYPUSH_PUBLIC_URL": "rs.sz.gov.cn"})); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "POLICYPUSH_PUBLIC_URL") {
		t.Errorf("a URL without a scheme: %v", err)
	}
}

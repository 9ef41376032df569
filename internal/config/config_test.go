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
		{"embedded with tls", map[string]string{"POLICYPUSH_KAFKA_TLS": "on"}, NeedDatabase, []string{"the embedded broker speaks neither"}},
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

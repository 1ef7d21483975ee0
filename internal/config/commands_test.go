package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// helpText is the --help of cmd, which Load returns rather than prints.
func helpText(t *testing.T, cmd string) string {
	t.Helper()
	var out bytes.Buffer
	_, err := Load(cmd, []string{"--help"}, env(nil), &out)
	var h *Help
	if !errors.As(err, &h) || !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(%s --help) = %v, want a *Help that is flag.ErrHelp", cmd, err)
	}
	if out.Len() != 0 {
		t.Errorf("Load(%s --help) printed %q; the caller prints the help", cmd, out.String())
	}
	return h.String()
}

// helpFlags is the flags the --help of cmd lists.
func helpFlags(t *testing.T, cmd string) []string {
	t.Helper()
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  --([a-z0-9-]+)[ \n]`).FindAllStringSubmatch(helpText(t, cmd), -1) {
		flags = append(flags, m[1])
	}
	return flags
}

func TestEachCommandListsOnlyItsSettings(t *testing.T) {
	tests := []struct {
		cmd     string
		want    []string
		wantNot []string
	}{
		{"run", []string{"http-addr", "sink-batch-size", "data-dir", "api-keys-file", "kafka-sasl-password"}, []string{"stack-kafka-addr", "match"}},
		{"api", []string{"http-addr", "rate-limit", "produce-timeout", "kafka-tls", "kafka-partitions", "shutdown-timeout"}, []string{"sink-batch-size", "sink-writers", "sink-fetch-min-bytes", "sink-fetch-max-wait", "kafka-instance-id", "data-dir", "stack-kafka", "match"}},
		// The sink keeps --api-keys-file: its admin listener is guarded by the keys.
		{"sink", []string{"kafka-brokers", "kafka-tls", "sink-batch-size", "sink-fetch-min-bytes", "sink-fetch-max-wait", "mongodb-uri", "admin-addr", "api-keys-file"}, []string{"http-addr", "rate-limit", "auth-exempt", "max-body-bytes", "produce-timeout", "stack-kafka", "stack-kafka-addr", "stack-mongodb-addr", "data-dir"}},
		{"stack", []string{"stack-kafka", "stack-kafka-addr", "stack-postgresql-url", "data-dir", "log-level"}, []string{"http-addr", "kafka-brokers", "mongodb-uri", "shutdown-timeout"}},
		{"dlq list", []string{"kafka-brokers", "kafka-sasl-mechanism", "kafka-tls-ca-file", "kafka-group", "match", "limit", "redrive-group"}, []string{"http-addr", "sink-batch-size", "mongodb-uri", "stack-kafka-addr", "log-level"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			got := helpFlags(t, tt.cmd)
			for _, f := range tt.want {
				if !slices.Contains(got, f) {
					t.Errorf("--help lacks --%s; it lists %v", f, got)
				}
			}
			for _, f := range tt.wantNot {
				if slices.Contains(got, f) {
					t.Errorf("--help lists --%s, which %s does not use", f, tt.cmd)
				}
			}
		})
	}
}

func TestUnknownVariables(t *testing.T) {
	got := UnknownVariables([]string{
		"POSTPIPE_HTTPADDR=:1",             // a typo
		"POSTPIPE_HTTP_ADDR=:2",            // known
		"POSTPIPE_DLQ_LIMIT=3",             // dlq's
		"POSTPIPE_LIMIT=3",                 // dlq's old name
		"POSTPIPE_STACK_KAFKA_ADDR=:4",     // stack's
		"POSTPIPE_TEST_KAFKA_BROKERS=k:1",  // the tests'
		"POSTPIPE_BIN=/bin/postpipe",       // the scripts'
		"POSTPIPE_SOMETHING_ELSE_ENTIRELY", // no neighbour
		"HOME=/root",
		"postpipe_http_addr=:5",
	})
	want := []Unknown{{"POSTPIPE_HTTPADDR", "POSTPIPE_HTTP_ADDR"}, {"POSTPIPE_LIMIT", "POSTPIPE_DLQ_LIMIT"}, {"POSTPIPE_SOMETHING_ELSE_ENTIRELY", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("UnknownVariables = %v, want %v", got, want)
	}
}

func TestKnownVariablesAreEveryCommandsFlags(t *testing.T) {
	known := KnownVariables()
	for _, cmd := range Commands {
		for _, f := range helpFlags(t, cmd.Name) {
			if !slices.Contains(known, EnvName(f)) {
				t.Errorf("%s: %s is not known", cmd.Name, EnvName(f))
			}
		}
	}
}

func TestLogValueForACommand(t *testing.T) {
	c := Default()
	c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "PLAIN", "svc", "s4sl-pw"
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", c.For("sink"))
	out := buf.String()
	for _, want := range []string{"config.sink_batch_size=500", "config.kafka_sasl_username=svc", "config.shutdown_timeout=8s"} {
		if !strings.Contains(out, want) {
			t.Errorf("sink's start-up log lacks %s: %s", want, out)
		}
	}
	for _, not := range []string{"http_addr", "rate_limit", "stack_kafka_addr", "s4sl-pw"} {
		if strings.Contains(out, not) {
			t.Errorf("sink's start-up log shows %s: %s", not, out)
		}
	}
}

// TestMessagesNameRealVariables: the checks name settings by their
// variable, written out in the messages; each must be one EnvName derives.
func TestMessagesNameRealVariables(t *testing.T) {
	known := KnownVariables()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`POSTPIPE_[A-Z0-9_]*[A-Z0-9]`).FindAllString(string(b), -1) {
			if name == "POSTPIPE_FOO_BAR" { // the naming rule's example
				continue
			}
			if !slices.Contains(known, name) && !slices.ContainsFunc(ForeignPrefixes, func(p string) bool { return strings.HasPrefix(name+"_", p) }) {
				t.Errorf("%s names %s, which no command reads", f, name)
			}
		}
	}
}

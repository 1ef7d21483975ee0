package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// env returns a getenv that knows only vars.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// load runs Load for the run command and fails the test on error.
func load(t *testing.T, vars map[string]string, args ...string) Config {
	t.Helper()
	return loadCmd(t, "run", vars, args...)
}

// loadCmd is load for command cmd.
func loadCmd(t *testing.T, cmd string, vars map[string]string, args ...string) Config {
	t.Helper()
	var out bytes.Buffer
	c, err := Load(cmd, args, env(vars), &out)
	if err != nil {
		t.Fatalf("Load(%q) with env %v: %v\noutput: %s", args, vars, err, out.String())
	}
	return c
}

func TestLoadDefaults(t *testing.T) {
	var out bytes.Buffer
	c, err := Load("run", nil, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("Load without env or flags = %+v, want the defaults %+v", c, want)
	}
	if out.Len() != 0 {
		t.Errorf("Load printed %q; want nothing", out.String())
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, "127.0.0.1:8080"},
		{"env over default", map[string]string{"POSTPIPE_HTTP_ADDR": ":9000"}, nil, ":9000"},
		{"flag over default", nil, []string{"--http-addr=:9100"}, ":9100"},
		{"flag over env", map[string]string{"POSTPIPE_HTTP_ADDR": ":9000"}, []string{"--http-addr", ":9100"}, ":9100"},
		{"single dash flag over env", map[string]string{"POSTPIPE_HTTP_ADDR": ":9000"}, []string{"-http-addr=:9200"}, ":9200"},
		{"empty env is unset", map[string]string{"POSTPIPE_HTTP_ADDR": ""}, nil, "127.0.0.1:8080"},
		{"other variables do not count", map[string]string{"HTTP_ADDR": ":1", "postpipe_http_addr": ":2"}, nil, "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := load(t, tt.env, tt.args...).HTTPAddr; got != tt.want {
				t.Errorf("HTTPAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		env   string
		value string
		got   func(Config) any
		want  any
	}{
		{"POSTPIPE_HTTP_ADDR", "127.0.0.1:8181", func(c Config) any { return c.HTTPAddr }, "127.0.0.1:8181"},
		{"POSTPIPE_SINK_WRITERS", "4", func(c Config) any { return c.SinkWriters }, 4},
		{"POSTPIPE_ADMIN_ADDR", "127.0.0.1:6060", func(c Config) any { return c.AdminAddr }, "127.0.0.1:6060"},
		{"POSTPIPE_MAX_BODY_BYTES", "4096", func(c Config) any { return c.MaxBodyBytes }, int64(4096)},
		{"POSTPIPE_MAX_BATCH_BODY_BYTES", "8192", func(c Config) any { return c.MaxBatchBodyBytes }, int64(8192)},
		{"POSTPIPE_PRODUCE_TIMEOUT", "1500ms", func(c Config) any { return c.ProduceTimeout }, 1500 * time.Millisecond},
		{"POSTPIPE_SHUTDOWN_TIMEOUT", "1m", func(c Config) any { return c.ShutdownTimeout }, time.Minute},
		{"POSTPIPE_KAFKA_BROKERS", " k1:9092, k2:9093 ,,k3:9094 ", func(c Config) any { return c.KafkaBrokers }, []string{"k1:9092", "k2:9093", "k3:9094"}},
		{"POSTPIPE_KAFKA_TOPIC", "articles", func(c Config) any { return c.KafkaTopic }, "articles"},
		{"POSTPIPE_KAFKA_DLQ_TOPIC", "articles.dead", func(c Config) any { return c.KafkaDLQTopic }, "articles.dead"},
		{"POSTPIPE_KAFKA_PARTITIONS", "12", func(c Config) any { return c.KafkaPartitions }, 12},
		{"POSTPIPE_KAFKA_REPLICATION", "3", func(c Config) any { return c.KafkaReplication }, 3},
		{"POSTPIPE_KAFKA_GROUP", "g2", func(c Config) any { return c.KafkaGroup }, "g2"},
		{"POSTPIPE_KAFKA_INSTANCE_ID", "sink-1", func(c Config) any { return c.KafkaInstanceID }, "sink-1"},
		{"POSTPIPE_KAFKA_SESSION_TIMEOUT", "20s", func(c Config) any { return c.KafkaSessionTimeout }, 20 * time.Second},
		{"POSTPIPE_KAFKA_MIN_INSYNC_REPLICAS", "2", func(c Config) any { return c.KafkaMinInsyncReplicas }, 2},
		{"POSTPIPE_KAFKA_RETENTION", "72h", func(c Config) any { return c.KafkaRetention }, 72 * time.Hour},
		{"POSTPIPE_KAFKA_DLQ_RETENTION", "2160h", func(c Config) any { return c.KafkaDLQRetention }, 2160 * time.Hour},
		{"POSTPIPE_KAFKA_LINGER", "5ms", func(c Config) any { return c.KafkaLinger }, 5 * time.Millisecond},
		{"POSTPIPE_MAX_IN_FLIGHT", "7", func(c Config) any { return c.MaxInFlight }, 7},
		{"POSTPIPE_MAX_CONNS_PER_CLIENT", "9", func(c Config) any { return c.MaxConnsPerClient }, 9},
		{"POSTPIPE_BODY_BUDGET_BYTES", "536870912", func(c Config) any { return c.BodyBudgetBytes }, int64(536870912)},
		{"POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES", "33554432", func(c Config) any { return c.BodyBudgetPerClientBytes }, int64(33554432)},
		{"POSTPIPE_KAFKA_MAX_BUFFERED_RECORDS", "9", func(c Config) any { return c.KafkaMaxBufferedRecords }, 9},
		{"POSTPIPE_KAFKA_MAX_BUFFERED_BYTES", "2097152", func(c Config) any { return c.KafkaMaxBufferedBytes }, 2097152},
		{"POSTPIPE_MONGODB_URI", "mongodb://db:27017", func(c Config) any { return c.MongoURI }, "mongodb://db:27017"},
		{"POSTPIPE_MONGODB_DATABASE", "blog", func(c Config) any { return c.MongoDatabase }, "blog"},
		{"POSTPIPE_MONGODB_COLLECTION", "entries", func(c Config) any { return c.MongoCollection }, "entries"},
		{"POSTPIPE_SINK_BATCH_SIZE", "64", func(c Config) any { return c.SinkBatchSize }, 64},
		{"POSTPIPE_SINK_BATCH_WAIT", "250ms", func(c Config) any { return c.SinkBatchWait }, 250 * time.Millisecond},
		{"POSTPIPE_SINK_FETCH_MIN_BYTES", "1", func(c Config) any { return c.SinkFetchMinBytes }, 1},
		{"POSTPIPE_SINK_FETCH_MAX_WAIT", "250ms", func(c Config) any { return c.SinkFetchMaxWait }, 250 * time.Millisecond},
		{"POSTPIPE_DATA_DIR", "/var/lib/postpipe", func(c Config) any { return c.DataDir }, "/var/lib/postpipe"},
		{"POSTPIPE_STACK_KAFKA_ADDR", ":19092", func(c Config) any { return c.StackKafkaAddr }, ":19092"},
		{"POSTPIPE_STACK_MONGODB_ADDR", ":37017", func(c Config) any { return c.StackMongoAddr }, ":37017"},
		{"POSTPIPE_LOG_LEVEL", "debug", func(c Config) any { return c.LogLevel }, "debug"},
		{"POSTPIPE_LOG_FORMAT", "json", func(c Config) any { return c.LogFormat }, "json"},
		{"POSTPIPE_API_KEYS_FILE", "/etc/keys", func(c Config) any { return c.APIKeysFile }, "/etc/keys"},
		{"POSTPIPE_AUTH_EXEMPT", "/healthz, /metrics", func(c Config) any { return c.AuthExempt }, []string{"/healthz", "/metrics"}},
		{"POSTPIPE_AUTH_EXEMPT", ",", func(c Config) any { return c.AuthExempt }, []string(nil)},
		{"POSTPIPE_RATE_LIMIT", "2.5", func(c Config) any { return c.RateLimit }, 2.5},
		{"POSTPIPE_RATE_BURST", "7", func(c Config) any { return c.RateBurst }, 7},
		{"POSTPIPE_KAFKA_TLS", "true", func(c Config) any { return c.KafkaTLS }, true},
		{"POSTPIPE_KAFKA_TLS_CA_FILE", "/ca.pem", func(c Config) any { return c.KafkaTLSCAFile }, "/ca.pem"},
		{"POSTPIPE_KAFKA_TLS_CERT_FILE", "/c.pem", func(c Config) any { return c.KafkaTLSCertFile }, "/c.pem"},
		{"POSTPIPE_KAFKA_TLS_KEY_FILE", "/k.pem", func(c Config) any { return c.KafkaTLSKeyFile }, "/k.pem"},
		{"POSTPIPE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", func(c Config) any { return c.KafkaSASLMechanism }, "SCRAM-SHA-256"},
		{"POSTPIPE_KAFKA_SASL_USERNAME", "svc", func(c Config) any { return c.KafkaSASLUsername }, "svc"},
		{"POSTPIPE_KAFKA_SASL_PASSWORD", "pw", func(c Config) any { return c.KafkaSASLPassword }, "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			if got := tt.got(Default()); reflect.DeepEqual(got, tt.want) {
				t.Fatalf("test value %v is the default; pick another", got)
			}
			cmd := "run"
			if strings.HasPrefix(tt.env, "POSTPIPE_STACK_") {
				cmd = "stack"
			}
			if got := tt.got(loadCmd(t, cmd, map[string]string{tt.env: tt.value})); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("from %s=%q: got %#v, want %#v", tt.env, tt.value, got, tt.want)
			}
			flagName := "--" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(tt.env, "POSTPIPE_")), "_", "-")
			if got := tt.got(loadCmd(t, cmd, nil, flagName+"="+tt.value)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("from %s=%q: got %#v, want %#v", flagName, tt.value, got, tt.want)
			}
		})
	}
}

func TestLoadBrokersFlagReplacesEnv(t *testing.T) {
	c := load(t, map[string]string{"POSTPIPE_KAFKA_BROKERS": "a:1,b:2"}, "--kafka-brokers=c:3")
	if want := []string{"c:3"}; !reflect.DeepEqual(c.KafkaBrokers, want) {
		t.Errorf("KafkaBrokers = %q, want %q (the flag replaces the list)", c.KafkaBrokers, want)
	}
	c = load(t, map[string]string{"POSTPIPE_KAFKA_BROKERS": "a:1"}, "--kafka-brokers=")
	if !c.EmbeddedKafka() {
		t.Errorf("KafkaBrokers = %q after an empty flag, want none (embedded broker)", c.KafkaBrokers)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantErr  error    // checked with errors.Is when set
		wantMsgs []string // each must appear in the error
		wantHelp []string // each must appear in the help returned
		usage    bool     // a *UsageError
	}{
		{
			name:     "bad duration in env",
			env:      map[string]string{"POSTPIPE_SINK_BATCH_WAIT": "soon"},
			wantMsgs: []string{"POSTPIPE_SINK_BATCH_WAIT", `"soon"`},
		},
		{
			name:     "bad number in env",
			env:      map[string]string{"POSTPIPE_KAFKA_PARTITIONS": "many"},
			wantMsgs: []string{"POSTPIPE_KAFKA_PARTITIONS", `"many"`},
		},
		{
			name:     "every bad variable at once",
			env:      map[string]string{"POSTPIPE_MAX_BODY_BYTES": "1MB", "POSTPIPE_PRODUCE_TIMEOUT": "5", "POSTPIPE_HTTP_ADDR": ":1"},
			wantMsgs: []string{"POSTPIPE_MAX_BODY_BYTES", "POSTPIPE_PRODUCE_TIMEOUT"},
		},
		{
			name:     "bad flag value",
			args:     []string{"--sink-batch-size=lots"},
			wantMsgs: []string{"--sink-batch-size=\"lots\": want an integer"},
			usage:    true,
		},
		{
			name:     "bad duration flag",
			args:     []string{"--produce-timeout=5"},
			wantMsgs: []string{"--produce-timeout=\"5\": want a duration such as 5s or 1m30s"},
			usage:    true,
		},
		{
			name:     "bad boolean flag",
			args:     []string{"--kafka-tls=yes"},
			wantMsgs: []string{"--kafka-tls=\"yes\": want true or false"},
			usage:    true,
		},
		{
			name:     "bad duration in env names the form",
			env:      map[string]string{"POSTPIPE_PRODUCE_TIMEOUT": "5"},
			wantMsgs: []string{`POSTPIPE_PRODUCE_TIMEOUT="5": want a duration such as 5s or 1m30s`},
		},
		{
			name:     "bad boolean in env names the form",
			env:      map[string]string{"POSTPIPE_BENCH_ENDPOINTS": "yes"},
			wantMsgs: []string{`POSTPIPE_BENCH_ENDPOINTS="yes": want true or false`},
		},
		{
			name:     "bad number in env names the form",
			env:      map[string]string{"POSTPIPE_RATE_LIMIT": "fast"},
			wantMsgs: []string{`POSTPIPE_RATE_LIMIT="fast": want a number such as 0.5`},
		},
		{
			name:     "a setting of another command is no flag of this one",
			args:     []string{"--stack-kafka-addr=:1"},
			wantMsgs: []string{"stack-kafka-addr"},
			usage:    true,
		},
		{
			name:     "unknown flag",
			args:     []string{"--no-such-flag"},
			wantMsgs: []string{"no-such-flag"},
			usage:    true,
		},
		{
			name:     "positional argument",
			args:     []string{"--http-addr=:1", "extra"},
			wantMsgs: []string{`unexpected argument "extra"`},
			usage:    true,
		},
		{
			name:     "--help",
			args:     []string{"--help"},
			wantErr:  flag.ErrHelp,
			wantHelp: []string{"Usage: postpipe run", "--http-addr", "POSTPIPE_HTTP_ADDR", "--sink-batch-wait duration  POSTPIPE_SINK_BATCH_WAIT (default 50ms)"},
		},
		{
			name:     "-h",
			args:     []string{"-h"},
			wantErr:  flag.ErrHelp,
			wantHelp: []string{"Usage: postpipe run", "POSTPIPE_KAFKA_BROKERS"},
		},
		{
			name:     "--help with a bad environment",
			env:      map[string]string{"POSTPIPE_KAFKA_TLS": "yes"},
			args:     []string{"--help"},
			wantErr:  flag.ErrHelp,
			wantHelp: []string{"Usage: postpipe run", "POSTPIPE_KAFKA_TLS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c, err := Load("run", tt.args, env(tt.env), &out)
			if err == nil {
				t.Fatalf("Load = %+v, nil; want an error", c)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
			for _, m := range tt.wantMsgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			var h *Help
			if errors.As(err, &h) != (tt.wantHelp != nil) {
				t.Errorf("error %v: help %t, want %t", err, h != nil, tt.wantHelp != nil)
			}
			for _, m := range tt.wantHelp {
				if h == nil || !strings.Contains(h.String(), m) {
					t.Errorf("help does not contain %q:\n%v", m, h)
				}
			}
			var ue *UsageError
			if errors.As(err, &ue) != tt.usage {
				t.Errorf("error %v: usage error %t, want %t", err, ue != nil, tt.usage)
			}
			if out.Len() != 0 {
				t.Errorf("Load printed %q; the caller prints the message or the help once", out.String())
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned %+v with its error; want the zero Config", c)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"http-addr":           "POSTPIPE_HTTP_ADDR",
		"kafka-brokers":       "POSTPIPE_KAFKA_BROKERS",
		"sink-batch-wait":     "POSTPIPE_SINK_BATCH_WAIT",
		"sink-fetch-max-wait": "POSTPIPE_SINK_FETCH_MAX_WAIT",
		"stack-mongodb-addr":  "POSTPIPE_STACK_MONGODB_ADDR",
		// The dlq tools' section has a prefix: its flags are plain words.
		"limit":         "POSTPIPE_DLQ_LIMIT",
		"match":         "POSTPIPE_DLQ_MATCH",
		"redrive-group": "POSTPIPE_DLQ_REDRIVE_GROUP",
		"stream":        "POSTPIPE_DLQ_STREAM",
		// A flag of no section follows the plain rule.
		"no-such-setting": "POSTPIPE_NO_SUCH_SETTING",
	}
	for in, want := range tests {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEveryFlagHasItsVariable checks through the help text that each flag
// documents the variable Load really reads for it.
func TestEveryFlagHasItsVariable(t *testing.T) {
	for _, cmd := range []string{"run", "sink", "stack", "dlq list"} {
		line := regexp.MustCompile(`^  --([a-z0-9-]+)(?: [a-z]+)?  (POSTPIPE_[A-Z0-9_]+)`)
		var flags int
		for _, l := range strings.Split(helpText(t, cmd), "\n") {
			if !strings.HasPrefix(l, "  --") {
				continue
			}
			flags++
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Errorf("%s: help line %q names no variable", cmd, l)
				continue
			}
			if m[2] != EnvName(m[1]) {
				t.Errorf("%s: help line %q names %s, want %s", cmd, l, m[2], EnvName(m[1]))
			}
			// Load reads that variable: an unparsable value in it fails.
			c := Default()
			fs, vars := c.flagSet(cmd)
			if f := fs.Lookup(m[1]); f != nil && FlagType(f) != "string" && FlagType(f) != "list" {
				if _, err := Load(cmd, nil, env(map[string]string{vars[m[1]]: "not-a-value"}), io.Discard); err == nil || !strings.Contains(err.Error(), m[2]) {
					t.Errorf("%s: %s=not-a-value: %v, want an error naming it", cmd, m[2], err)
				}
			}
		}
		if flags < 4 {
			t.Errorf("%s: help lists %d flags, want every setting:\n%s", cmd, flags, helpText(t, cmd))
		}
	}
}

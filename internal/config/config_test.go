package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

// problems returns the lines of a Validate error after its heading.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	heading, rest, ok := strings.Cut(err.Error(), "\n")
	if !ok || heading != "invalid configuration:" {
		t.Fatalf("error %q does not start with the heading line", err)
	}
	return strings.Split(rest, "\n")
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// TestSinkFetchDefaults: the sink's fetch is held for 64 KiB or 100ms by
// default (the broker answers each fetch: see Sink.SinkFetchMinBytes).
func TestSinkFetchDefaults(t *testing.T) {
	c := Default()
	if c.SinkFetchMinBytes != 65536 || c.SinkFetchMaxWait != 50*time.Millisecond {
		t.Errorf("fetch min bytes %d, max wait %s; want 65536, 50ms", c.SinkFetchMinBytes, c.SinkFetchMaxWait)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"brokers", func(c *Config) { c.KafkaBrokers = []string{"k1:9092", "[::1]:9093"} }},
		{"mongodb URI", func(c *Config) { c.MongoURI = "mongodb://user:pw@h1:27017,h2:27017/db?replicaSet=rs" }},
		{"mongodb+srv URI", func(c *Config) { c.MongoURI = "mongodb+srv://cluster.example.com/db" }},
		{"smallest body limit", func(c *Config) { c.MaxBodyBytes = 1024 }},
		{"batch limit equal to body limit", func(c *Config) { c.MaxBatchBodyBytes = c.MaxBodyBytes }},
		{"produce timeout upper bound", func(c *Config) { c.ProduceTimeout = 2 * time.Minute }},
		{"replication factor", func(c *Config) { c.KafkaReplication = 3 }},
		{"largest replication factor", func(c *Config) { c.KafkaReplication = 32767 }},
		{"broker default replication", func(c *Config) { c.KafkaReplication = -1 }},
		{"most partitions", func(c *Config) { c.KafkaPartitions = 10000 }},
		{"min insync equal to replication", func(c *Config) { c.KafkaReplication, c.KafkaMinInsyncReplicas = 3, 3 }},
		{"min insync with broker default replication", func(c *Config) { c.KafkaMinInsyncReplicas = 2 }},
		{"broker default retention", func(c *Config) { c.KafkaRetention, c.KafkaDLQRetention = 0, 0 }},
		{"instance id", func(c *Config) { c.KafkaInstanceID = "sink-0" }},
		{"linger bounds", func(c *Config) { c.KafkaLinger = time.Second }},
		{"batch bounds", func(c *Config) { c.SinkBatchSize, c.SinkBatchWait = 10000, time.Minute }},
		{"fetch at one byte, shortest wait", func(c *Config) { c.SinkFetchMinBytes, c.SinkFetchMaxWait = 1, 10*time.Millisecond }},
		{"fetch upper bounds", func(c *Config) { c.SinkFetchMinBytes, c.SinkFetchMaxWait = 64<<20, 10*time.Second }},
		{"json warn logs", func(c *Config) { c.LogFormat, c.LogLevel = "json", "warn" }},
		{"every request logged", func(c *Config) { c.AccessLogSample = 1 }},
		{"rate limit bounds", func(c *Config) { c.RateLimit, c.RateBurst = MinRateLimit, MaxRateBurst }},
		{"rate limit upper bound", func(c *Config) { c.RateLimit, c.RateBurst = MaxRateLimit, 1 }},
		{"no connection bound", func(c *Config) { c.MaxConnsPerClient = 0 }},
		{"no body budget", func(c *Config) { c.BodyBudgetBytes = 0 }},
		{"body budget of one batch", func(c *Config) {
			c.BodyBudgetBytes, c.BodyBudgetPerClientBytes = c.MaxBatchBodyBytes, c.MaxBatchBodyBytes
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*Config)
		wantEnv string
	}{
		{"http addr", func(c *Config) { c.HTTPAddr = "8080" }, "POSTPIPE_HTTP_ADDR"},
		{"sink writers", func(c *Config) { c.SinkWriters = 0 }, "POSTPIPE_SINK_WRITERS"},
		{"admin addr", func(c *Config) { c.AdminAddr = "6060" }, "POSTPIPE_ADMIN_ADDR"},
		{"admin addr same as http", func(c *Config) { c.AdminAddr = c.HTTPAddr }, "POSTPIPE_ADMIN_ADDR"},
		{"stack kafka addr", func(c *Config) { c.StackKafkaAddr = "localhost" }, "POSTPIPE_STACK_KAFKA_ADDR"},
		{"stack mongodb addr", func(c *Config) { c.StackMongoAddr = "" }, "POSTPIPE_STACK_MONGODB_ADDR"},
		{"broker", func(c *Config) { c.KafkaBrokers = []string{"k1:9092", "k2"} }, "POSTPIPE_KAFKA_BROKERS"},
		{"body limit", func(c *Config) { c.MaxBodyBytes, c.MaxBatchBodyBytes = 1023, 1<<20 }, "POSTPIPE_MAX_BODY_BYTES"},
		{"batch body limit", func(c *Config) { c.MaxBatchBodyBytes = c.MaxBodyBytes - 1 }, "POSTPIPE_MAX_BATCH_BODY_BYTES"},
		{"produce timeout too short", func(c *Config) { c.ProduceTimeout = 999 * time.Millisecond }, "POSTPIPE_PRODUCE_TIMEOUT"},
		{"produce timeout too long", func(c *Config) { c.ProduceTimeout = 2*time.Minute + 1 }, "POSTPIPE_PRODUCE_TIMEOUT"},
		{"shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, "POSTPIPE_SHUTDOWN_TIMEOUT"},
		{"topic", func(c *Config) { c.KafkaTopic = "" }, "POSTPIPE_KAFKA_TOPIC"},
		{"dlq topic", func(c *Config) { c.KafkaDLQTopic = "  " }, "POSTPIPE_KAFKA_DLQ_TOPIC"},
		{"dlq same as topic", func(c *Config) { c.KafkaDLQTopic = c.KafkaTopic }, "POSTPIPE_KAFKA_DLQ_TOPIC"},
		{"group", func(c *Config) { c.KafkaGroup = "\t" }, "POSTPIPE_KAFKA_GROUP"},
		{"database", func(c *Config) { c.MongoDatabase = "" }, "POSTPIPE_MONGODB_DATABASE"},
		{"collection", func(c *Config) { c.MongoCollection = "" }, "POSTPIPE_MONGODB_COLLECTION"},
		{"data dir", func(c *Config) { c.DataDir = "" }, "POSTPIPE_DATA_DIR"},
		{"no partitions", func(c *Config) { c.KafkaPartitions = 0 }, "POSTPIPE_KAFKA_PARTITIONS"},
		{"too many partitions", func(c *Config) { c.KafkaPartitions = 10001 }, "POSTPIPE_KAFKA_PARTITIONS"},
		{"zero replication", func(c *Config) { c.KafkaReplication = 0 }, "POSTPIPE_KAFKA_REPLICATION"},
		{"negative replication", func(c *Config) { c.KafkaReplication = -2 }, "POSTPIPE_KAFKA_REPLICATION"},
		{"replication above int16", func(c *Config) { c.KafkaReplication = 40000 }, "POSTPIPE_KAFKA_REPLICATION"},
		{"replication that wraps to -1", func(c *Config) { c.KafkaReplication = 65535 }, "POSTPIPE_KAFKA_REPLICATION"},
		{"replication one past int16", func(c *Config) { c.KafkaReplication = 32768 }, "POSTPIPE_KAFKA_REPLICATION"},
		{"partitions above int32", func(c *Config) { c.KafkaPartitions = 1 << 32 }, "POSTPIPE_KAFKA_PARTITIONS"},
		{"negative min insync", func(c *Config) { c.KafkaMinInsyncReplicas = -1 }, "POSTPIPE_KAFKA_MIN_INSYNC_REPLICAS"},
		{"min insync above replication", func(c *Config) { c.KafkaReplication, c.KafkaMinInsyncReplicas = 3, 4 }, "POSTPIPE_KAFKA_MIN_INSYNC_REPLICAS"},
		{"negative retention", func(c *Config) { c.KafkaRetention = -time.Hour }, "POSTPIPE_KAFKA_RETENTION"},
		{"dlq retention under a minute", func(c *Config) { c.KafkaDLQRetention = time.Second }, "POSTPIPE_KAFKA_DLQ_RETENTION"},
		{"instance id with spaces", func(c *Config) { c.KafkaInstanceID = " sink-0" }, "POSTPIPE_KAFKA_INSTANCE_ID"},
		{"negative linger", func(c *Config) { c.KafkaLinger = -time.Millisecond }, "POSTPIPE_KAFKA_LINGER"},
		{"long linger", func(c *Config) { c.KafkaLinger = time.Second + 1 }, "POSTPIPE_KAFKA_LINGER"},
		{"negative in-flight bound", func(c *Config) { c.MaxInFlight = -1 }, "POSTPIPE_MAX_IN_FLIGHT"},
		{"no producer buffer", func(c *Config) { c.KafkaMaxBufferedRecords = 0 }, "POSTPIPE_KAFKA_MAX_BUFFERED_RECORDS"},
		{"producer buffer under one post", func(c *Config) { c.KafkaMaxBufferedBytes = int(c.MaxBodyBytes) - 1 }, "POSTPIPE_KAFKA_MAX_BUFFERED_BYTES"},
		{"URI scheme", func(c *Config) { c.MongoURI = "postgres://db:5432" }, "POSTPIPE_MONGODB_URI"},
		{"URI syntax", func(c *Config) { c.MongoURI = "mongodb://db:27017/%zz" }, "POSTPIPE_MONGODB_URI"},
		{"batch size zero", func(c *Config) { c.SinkBatchSize = 0 }, "POSTPIPE_SINK_BATCH_SIZE"},
		{"batch size too big", func(c *Config) { c.SinkBatchSize = 10001 }, "POSTPIPE_SINK_BATCH_SIZE"},
		{"batch wait zero", func(c *Config) { c.SinkBatchWait = 0 }, "POSTPIPE_SINK_BATCH_WAIT"},
		{"batch wait too long", func(c *Config) { c.SinkBatchWait = time.Minute + 1 }, "POSTPIPE_SINK_BATCH_WAIT"},
		{"fetch min bytes zero", func(c *Config) { c.SinkFetchMinBytes = 0 }, "POSTPIPE_SINK_FETCH_MIN_BYTES"},
		{"fetch min bytes over 64 MiB", func(c *Config) { c.SinkFetchMinBytes = 64<<20 + 1 }, "POSTPIPE_SINK_FETCH_MIN_BYTES"},
		{"fetch min bytes above int32", func(c *Config) { c.SinkFetchMinBytes = 1 << 32 }, "POSTPIPE_SINK_FETCH_MIN_BYTES"},
		{"fetch max wait zero", func(c *Config) { c.SinkFetchMaxWait = 0 }, "POSTPIPE_SINK_FETCH_MAX_WAIT"},
		{"fetch max wait under franz-go's 10ms", func(c *Config) { c.SinkFetchMaxWait = 9 * time.Millisecond }, "POSTPIPE_SINK_FETCH_MAX_WAIT"},
		{"fetch max wait too long", func(c *Config) { c.SinkFetchMaxWait = 10*time.Second + 1 }, "POSTPIPE_SINK_FETCH_MAX_WAIT"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "POSTPIPE_LOG_LEVEL"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "POSTPIPE_LOG_FORMAT"},
		{"exempt not a path", func(c *Config) { c.AuthExempt = []string{"/healthz", "readyz"} }, "POSTPIPE_AUTH_EXEMPT"},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "POSTPIPE_RATE_LIMIT"},
		{"NaN rate", func(c *Config) { c.RateLimit = math.NaN() }, "POSTPIPE_RATE_LIMIT"},
		{"zero burst", func(c *Config) { c.RateLimit, c.RateBurst = 10, 0 }, "POSTPIPE_RATE_BURST"},
		{"tiny rate", func(c *Config) { c.RateLimit = 1e-10 }, "POSTPIPE_RATE_LIMIT"},
		{"rate under one a day", func(c *Config) { c.RateLimit = 1e-9 }, "POSTPIPE_RATE_LIMIT"},
		{"huge rate", func(c *Config) { c.RateLimit = 1e300 }, "POSTPIPE_RATE_LIMIT"},
		{"infinite rate", func(c *Config) { c.RateLimit = math.Inf(1) }, "POSTPIPE_RATE_LIMIT"},
		{"huge burst", func(c *Config) { c.RateLimit, c.RateBurst = 10, 1_000_001 }, "POSTPIPE_RATE_BURST"},
		{"negative conns per client", func(c *Config) { c.MaxConnsPerClient = -1 }, "POSTPIPE_MAX_CONNS_PER_CLIENT"},
		{"negative body budget", func(c *Config) { c.BodyBudgetBytes = -1 }, "POSTPIPE_BODY_BUDGET_BYTES"},
		{"body budget under a batch", func(c *Config) { c.BodyBudgetBytes = c.MaxBatchBodyBytes - 1 }, "POSTPIPE_BODY_BUDGET_BYTES"},
		{"negative body share", func(c *Config) { c.BodyBudgetPerClientBytes = -1 }, "POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES"},
		{"body share under a batch", func(c *Config) { c.BodyBudgetPerClientBytes = c.MaxBatchBodyBytes - 1 }, "POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES"},
		{"body share over the budget", func(c *Config) { c.BodyBudgetPerClientBytes = c.BodyBudgetBytes + 1 }, "POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES"},
		{"body share without a budget", func(c *Config) { c.BodyBudgetBytes, c.BodyBudgetPerClientBytes = 0, 32<<20 }, "POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES"},
		{"tls file without tls", func(c *Config) { c.KafkaTLSCAFile = "/ca.pem" }, "POSTPIPE_KAFKA_TLS"},
		{"client cert without key", func(c *Config) { c.KafkaTLS, c.KafkaTLSCertFile = true, "/c.pem" }, "POSTPIPE_KAFKA_TLS_CERT_FILE"},
		{"sasl mechanism", func(c *Config) {
			c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "GSSAPI", "u", "p"
		}, "POSTPIPE_KAFKA_SASL_MECHANISM"},
		{"sasl without password", func(c *Config) { c.KafkaSASLMechanism, c.KafkaSASLUsername = "PLAIN", "u" }, "POSTPIPE_KAFKA_SASL_USERNAME"},
		{"sasl password without mechanism", func(c *Config) { c.KafkaSASLPassword = "p" }, "POSTPIPE_KAFKA_SASL_MECHANISM"},
		{"access log sample above 1", func(c *Config) { c.AccessLogSample = 1.5 }, "POSTPIPE_ACCESS_LOG_SAMPLE"},
		{"access log sample negative", func(c *Config) { c.AccessLogSample = -0.1 }, "POSTPIPE_ACCESS_LOG_SAMPLE"},
		{"access log sample NaN", func(c *Config) { c.AccessLogSample = math.NaN() }, "POSTPIPE_ACCESS_LOG_SAMPLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.modify(&c)
			lines := problems(t, c.Validate())
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.wantEnv+": ") {
				t.Errorf("problems = %q, want exactly one, about %s", lines, tt.wantEnv)
			}
		})
	}
}

func TestValidateReportsEverythingAtOnce(t *testing.T) {
	c := Default()
	c.HTTPAddr = "nope"
	c.SinkBatchWait = 0
	c.LogFormat = "yaml"
	c.KafkaBrokers = []string{"a", "b:1", "c"}
	lines := problems(t, c.Validate())
	want := map[string]int{"POSTPIPE_HTTP_ADDR": 1, "POSTPIPE_SINK_BATCH_WAIT": 1, "POSTPIPE_LOG_FORMAT": 1, "POSTPIPE_KAFKA_BROKERS": 2}
	got := map[string]int{}
	for _, l := range lines {
		env, _, _ := strings.Cut(l, ":")
		got[env]++
	}
	if len(got) != len(want) {
		t.Errorf("problems = %q, want them for %v", lines, want)
	}
	for env, n := range want {
		if got[env] != n {
			t.Errorf("%d problems for %s, want %d; all: %q", got[env], env, n, lines)
		}
	}
}

func TestValidateDoesNotShowURIPassword(t *testing.T) {
	c := Default()
	c.MongoURI = "http://admin:hunter2@db:27017/%zz"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for a non-mongodb URI")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestSecuritySettingsValidate(t *testing.T) {
	c := Default()
	c.APIKeysFile, c.AuthExempt, c.RateLimit, c.RateBurst = "/etc/postpipe/keys", nil, 0.5, 1
	c.KafkaTLS, c.KafkaTLSCAFile, c.KafkaTLSCertFile, c.KafkaTLSKeyFile = true, "/ca.pem", "/c.pem", "/k.pem"
	c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "SCRAM-SHA-512", "u", "p"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateDoesNotShowSASLPassword(t *testing.T) {
	c := Default()
	c.KafkaSASLMechanism, c.KafkaSASLPassword = "SCRAM-SHA-1", "hunter2"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for an unknown mechanism without a username")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "WARN": slog.LevelWarn} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil || !strings.Contains(err.Error(), `"verbose"`) {
		t.Errorf("ParseLevel(verbose) error = %v, want one naming the value", err)
	}
}

func TestRedactURI(t *testing.T) {
	tests := []struct {
		name    string
		uri     string
		want    string   // the whole result, when given
		shows   []string // must appear
		secrets []string // must not
	}{
		{
			name:    "password",
			uri:     "mongodb://app:hunter2@db1:27017,db2:27017/blog?replicaSet=rs0",
			want:    "mongodb://app:xxxxx@db1:27017,db2:27017/blog?replicaSet=rs0",
			secrets: []string{"hunter2"},
		},
		{
			name:    "srv with an escaped password",
			uri:     "mongodb+srv://app:p%40ss%3Aw0rd@cluster.example.com/",
			want:    "mongodb+srv://app:xxxxx@cluster.example.com/",
			secrets: []string{"p%40ss", "w0rd", "p@ss"},
		},
		{
			name: "escaped user name is kept",
			uri:  "mongodb://d%C3%A9v%40corp:pw1@db/",
			want: "mongodb://d%C3%A9v%40corp:xxxxx@db/", secrets: []string{"pw1"},
		},
		{
			name: "password with a colon",
			uri:  "mongodb://app:pa:ss@db/", want: "mongodb://app:xxxxx@db/", secrets: []string{"pa", "ss"},
		},
		{
			name:    "empty password",
			uri:     "mongodb://app:@db:27017",
			want:    "mongodb://app:xxxxx@db:27017",
			secrets: nil,
		},
		{
			name:    "aws session token in authMechanismProperties",
			uri:     "mongodb://AKIAEXAMPLE:awsSecret1@db/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:IQoJb3JpZ2luX2Vj%2Bsess",
			want:    "mongodb://AKIAEXAMPLE:xxxxx@db/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:xxxxx",
			secrets: []string{"awsSecret1", "IQoJb3JpZ2luX2Vj", "sess"},
		},
		{
			name:    "every authMechanismProperties value, in any case, escaped separators",
			uri:     "mongodb+srv://cluster.example.com/?AUTHMECHANISMPROPERTIES=SERVICE_NAME:svc1,CANONICALIZE_HOST_NAME:true%2CSERVICE_REALM:realm9",
			want:    "mongodb+srv://cluster.example.com/?AUTHMECHANISMPROPERTIES=SERVICE_NAME:xxxxx,CANONICALIZE_HOST_NAME:xxxxx,SERVICE_REALM:xxxxx",
			secrets: []string{"svc1", "realm9"},
		},
		{
			name:    "tls key passwords",
			uri:     "mongodb://db/?tls=true&tlsCertificateKeyFile=%2Fetc%2Fkey.pem&tlsCertificateKeyFilePassword=k3y-pw&sslClientCertificateKeyPassword=ssl-pw",
			want:    "mongodb://db/?tls=true&tlsCertificateKeyFile=%2Fetc%2Fkey.pem&tlsCertificateKeyFilePassword=xxxxx&sslClientCertificateKeyPassword=xxxxx",
			secrets: []string{"k3y-pw", "ssl-pw"},
		},
		{
			name:    "secret-looking option names, ';' separators, escaped names",
			uri:     "mongodb://db:27017/?authSource=admin;password=p1&clientSecret=s1&apiToken=t1&TOKEN=t2&pass%77ord=t3&sslpassword=t4",
			shows:   []string{"authSource=admin", "password=xxxxx", "clientSecret=xxxxx", "apiToken=xxxxx", "TOKEN=xxxxx", "pass%77ord=xxxxx", "sslpassword=xxxxx"},
			secrets: []string{"p1", "s1", "t1", "t2", "t3", "t4"},
		},
		{
			name:    "postgres URL",
			uri:     "postgres://ferret:pg-pw-1@pg:5432/ferretdb?sslmode=disable",
			want:    "postgres://ferret:xxxxx@pg:5432/ferretdb?sslmode=disable",
			secrets: []string{"pg-pw-1"},
		},
		{
			name: "no credentials",
			uri:  "mongodb://app@db:27017/blog", want: "mongodb://app@db:27017/blog",
		},
		{
			name: "ipv6 hosts",
			uri:  "mongodb://app:v6pw@[::1]:27017,[fe80::1]:27018/?replicaSet=rs", want: "mongodb://app:xxxxx@[::1]:27017,[fe80::1]:27018/?replicaSet=rs",
			secrets: []string{"v6pw"},
		},
		// Malformed: nothing of them may show.
		{name: "bad escape", uri: "mongodb://app:hunter2@db:27017/%zz", want: "(unparseable URI)"},
		{name: "bad escape in a secret", uri: "mongodb://db/?authMechanismProperties=AWS_SESSION_TOKEN:tok%zz", want: "(unparseable URI)"},
		{name: "unescaped @ in the password", uri: "mongodb://app:hun@ter2@db/", want: "(unparseable URI)"},
		{name: "unescaped / in the password", uri: "mongodb://app:hun/ter2@db/", want: "(unparseable URI)"},
		{name: "unescaped ? in the password", uri: "mongodb://app:hun?ter2@db/", want: "(unparseable URI)"},
		{name: "@ in the path", uri: "mongodb://app:hun@db/ter2@x", want: "(unparseable URI)"},
		{name: "no host", uri: "mongodb://app:hunter2@/db", want: "(unparseable URI)"},
		{name: "typo without the double slash", uri: "mongodb:/app:hunter2@db:27017", want: "(unparseable URI)"},
		{name: "opaque", uri: "mongodb:app:hunter2@db:27017", want: "(unparseable URI)"},
		{name: "no scheme", uri: "app:hunter2@db:27017", want: "(unparseable URI)"},
		{name: "control character", uri: "mongodb://app:hunter2@db/\nINFO forged", want: "(unparseable URI)"},
		{name: "empty", uri: "", want: "(unparseable URI)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactURI(tt.uri)
			if tt.want != "" && got != tt.want {
				t.Errorf("RedactURI(%q) = %q, want %q", tt.uri, got, tt.want)
			}
			for _, w := range tt.shows {
				if !strings.Contains(got, w) {
					t.Errorf("RedactURI(%q) = %q, want it to contain %q", tt.uri, got, w)
				}
			}
			for _, s := range append(tt.secrets, "hunter2", "ter2") {
				if strings.Contains(got, s) {
					t.Errorf("RedactURI(%q) = %q shows %q", tt.uri, got, s)
				}
			}
		})
	}
}

func TestRedactError(t *testing.T) {
	base := errors.New("connection refused")
	for _, tt := range []struct {
		name, uri, text string
		secrets         []string
	}{
		{
			// What the MongoDB driver answers for a bad escape in an option.
			name:    "driver quotes an option value",
			uri:     "mongodb://db/?authMechanismProperties=AWS_SESSION_TOKEN:tok%2Bsecret",
			text:    `error parsing uri: invalid option value "AWS_SESSION_TOKEN:tok+secret"`,
			secrets: []string{"tok+secret", "tok%2Bsecret"},
		},
		{
			name:    "the whole URI echoed",
			uri:     "mongodb://app:pw-9@db/?tlsCertificateKeyFilePassword=kp-9",
			text:    "cannot use mongodb://app:pw-9@db/?tlsCertificateKeyFilePassword=kp-9",
			secrets: []string{"pw-9", "kp-9"},
		},
		{
			name:    "unescaped password",
			uri:     "mongodb://app:p%40ss-9@db/",
			text:    "auth failed for password p@ss-9",
			secrets: []string{"p@ss-9"},
		},
		{
			name:    "malformed URI: the text goes",
			uri:     "mongodb://db/?authMechanismProperties=AWS_SESSION_TOKEN:tok-9%zz",
			text:    `invalid option value "AWS_SESSION_TOKEN:tok-9%zz"`,
			secrets: []string{"tok-9"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := RedactError(fmt.Errorf("%s: %w", tt.text, base), tt.uri)
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("RedactError shows %q: %v", s, err)
				}
			}
			if !errors.Is(err, base) {
				t.Errorf("RedactError(%v) no longer wraps the cause", err)
			}
		})
	}
	if err := RedactError(errors.New("dial tcp: connection refused"), "mongodb://app:pw@db/"); err.Error() != "dial tcp: connection refused" {
		t.Errorf("an error without credentials changed: %v", err)
	}
	if RedactError(nil, "mongodb://db/") != nil {
		t.Error("RedactError(nil) is not nil")
	}
}

func TestValidateRefusesURIsThatCannotBeRedacted(t *testing.T) {
	for _, uri := range []string{"mongodb://app:hun@ter2@db/", "mongodb://app:pw@db/?password=x%zz", "mongodb:///db"} {
		c := Default()
		c.MongoURI = uri
		lines := problems(t, c.Validate())
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "POSTPIPE_MONGODB_URI: ") || strings.Contains(lines[0], "ter2") {
			t.Errorf("%q: problems %q, want one about POSTPIPE_MONGODB_URI without the password", uri, lines)
		}
	}
}

func TestRedactURIKeepsAUsableURI(t *testing.T) {
	got := RedactURI("mongodb://app:hunter2@db:27017/blog?token=abc&w=majority")
	u, err := url.Parse(got)
	if err != nil {
		t.Fatalf("RedactURI gave %q, which does not parse: %v", got, err)
	}
	pw, _ := u.User.Password()
	if u.User.Username() != "app" || pw != "xxxxx" || u.Host != "db:27017" || u.Path != "/blog" ||
		u.Query().Get("w") != "majority" || u.Query().Get("token") != "xxxxx" {
		t.Errorf("RedactURI gave %q: user %q password %q host %q path %q query %v", got, u.User.Username(), pw, u.Host, u.Path, u.Query())
	}
}

// logged renders c as an attribute through a JSON slog handler and returns
// the raw output and the decoded "config" group.
func logged(t *testing.T, c Config) (string, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line.Config == nil {
		t.Fatalf("log line %q has no config group", buf.String())
	}
	return buf.String(), line.Config
}

func TestLogValueMasksCredentials(t *testing.T) {
	c := Default()
	c.KafkaBrokers = []string{"k1:9092", "k2:9092"}
	c.MongoURI = "mongodb://app:hunter2@db:27017/blog?authSource=admin&sessionToken=tok3n&authMechanismProperties=AWS_SESSION_TOKEN:aws-t0k"
	c.KafkaSASLMechanism, c.KafkaSASLUsername, c.KafkaSASLPassword = "PLAIN", "svc", "s4sl-pw"
	raw, group := logged(t, c)

	for _, secret := range []string{"hunter2", "tok3n", "aws-t0k", "s4sl-pw"} {
		if strings.Contains(raw, secret) {
			t.Errorf("log output shows %q: %s", secret, raw)
		}
	}
	want := map[string]any{
		"http_addr":            "127.0.0.1:8080",
		"kafka_brokers":        "k1:9092,k2:9092",
		"kafka_topic":          "posts",
		"mongodb_uri":          "mongodb://app:xxxxx@db:27017/blog?authSource=admin&sessionToken=xxxxx&authMechanismProperties=AWS_SESSION_TOKEN:xxxxx",
		"data_dir":             "./data",
		"kafka_sasl_mechanism": "PLAIN",
		"kafka_sasl_username":  "svc",
		"auth_exempt":          "/healthz,/readyz",
	}
	for k, v := range want {
		if group[k] != v {
			t.Errorf("config.%s = %v, want %v", k, group[k], v)
		}
	}
}

func TestLogValueEmbedded(t *testing.T) {
	_, group := logged(t, Default())
	for _, k := range []string{"kafka_brokers", "mongodb_uri"} {
		if group[k] != "embedded" {
			t.Errorf("config.%s = %v, want embedded", k, group[k])
		}
	}
}

// TestReplicationFromEnvironment is the report of issue 10: values that
// wrap when narrowed to int16 are refused with the range in the message.
func TestReplicationFromEnvironment(t *testing.T) {
	for _, v := range []string{"40000", "65535", "-2", "0"} {
		c, err := Load("run", nil, func(k string) string {
			if k == "POSTPIPE_KAFKA_REPLICATION" {
				return v
			}
			return ""
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		lines := problems(t, c.Validate())
		if len(lines) != 1 || !strings.Contains(lines[0], "between 1 and 32767") {
			t.Errorf("POSTPIPE_KAFKA_REPLICATION=%s: problems %q, want the range named", v, lines)
		}
	}
}

func TestRedactArgs(t *testing.T) {
	for _, tt := range []struct {
		args, want []string
	}{
		{
			[]string{"postpipe", "run", "--mongodb-uri=mongodb://app:pw1@db/?authMechanismProperties=AWS_SESSION_TOKEN:t1", "--kafka-sasl-password", "pw2", "--http-addr", ":8080"},
			[]string{"postpipe", "run", "--mongodb-uri=mongodb://app:xxxxx@db/?authMechanismProperties=AWS_SESSION_TOKEN:xxxxx", "--kafka-sasl-password", "xxxxx", "--http-addr", ":8080"},
		},
		{
			[]string{"postpipe", "run", "-mongodb-uri", "mongodb://app:pw3@db/", "-kafka-sasl-password=pw4"},
			[]string{"postpipe", "run", "-mongodb-uri", "mongodb://app:xxxxx@db/", "-kafka-sasl-password=xxxxx"},
		},
		{ // malformed URIs, in either form, show nothing
			[]string{"postpipe", "api", "--mongodb-uri", "mongodb:/app:pw5@db", "--stack-postgresql-url=postgres:/u:pw6@pg"},
			[]string{"postpipe", "api", "--mongodb-uri", "(unparseable URI)", "--stack-postgresql-url=(unparseable URI)"},
		},
		{ // a URI anywhere, a secret flag last without its value
			[]string{"postpipe", "bench", "--target", "http://u:pw7@h:8080", "--kafka-sasl-password"},
			[]string{"postpipe", "bench", "--target", "http://u:xxxxx@h:8080", "--kafka-sasl-password"},
		},
	} {
		got := RedactArgs(tt.args)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("RedactArgs(%q)\n = %q\nwant %q", tt.args, got, tt.want)
		}
	}
}

func TestInstanceID(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		name        string
		setting     string
		getenv      func(string) string
		inContainer bool
		want        string
	}{
		{"set", "sink-7", env("POD_NAME", "p", "HOSTNAME", "h"), true, "sink-7"},
		{"set on a host", "sink-7", env(), false, "sink-7"},
		{"none in a pod", NoInstanceID, env("POD_NAME", "p", "HOSTNAME", "h"), true, ""},
		{"pod name", "", env("POD_NAME", "sink-0", "HOSTNAME", "h"), true, "sink-0"},
		{"container hostname", "", env("HOSTNAME", "3f2a9c"), true, "3f2a9c"},
		{"container without names", "", env(), true, ""},
		// On a host every process shares the hostname: two sinks would
		// fence each other, so the default stays dynamic.
		{"host hostname", "", env("HOSTNAME", "laptop"), false, ""},
		{"host pod name", "", env("POD_NAME", "x"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.KafkaInstanceID = tt.setting
			if got := c.InstanceID(tt.getenv, tt.inContainer); got != tt.want {
				t.Errorf("InstanceID() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The share of the body budget is a quarter of it unless set, never under
// the largest batch body nor over the budget.
func TestBodyShare(t *testing.T) {
	for _, tc := range []struct {
		budget, perClient, batch, want int64
	}{
		{256 << 20, 0, 16 << 20, 64 << 20},
		{32 << 20, 0, 16 << 20, 16 << 20},
		{16 << 20, 0, 16 << 20, 16 << 20},
		{256 << 20, 100 << 20, 16 << 20, 100 << 20},
	} {
		h := HTTP{BodyBudgetBytes: tc.budget, BodyBudgetPerClientBytes: tc.perClient, MaxBatchBodyBytes: tc.batch}
		if got := h.BodyShare(); got != tc.want {
			t.Errorf("budget %d, per client %d, batch %d: share %d, want %d", tc.budget, tc.perClient, tc.batch, got, tc.want)
		}
	}
}

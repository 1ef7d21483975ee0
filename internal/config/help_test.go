package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestHelpShowsTypedDefaults: each flag shows the kind of value it takes
// and its default as it would be typed, not a quoted Go string.
func TestHelpShowsTypedDefaults(t *testing.T) {
	help := helpText(t, "run")
	for _, want := range []string{
		"  --produce-timeout duration  POSTPIPE_PRODUCE_TIMEOUT (default 5s)\n",
		"  --kafka-partitions int  POSTPIPE_KAFKA_PARTITIONS (default 6)\n",
		"  --kafka-replication int  POSTPIPE_KAFKA_REPLICATION (default -1)\n",
		"  --http-addr string  POSTPIPE_HTTP_ADDR (default 127.0.0.1:8080)\n",
		"  --admin-addr string  POSTPIPE_ADMIN_ADDR (default: none)\n",
		"  --kafka-brokers list  POSTPIPE_KAFKA_BROKERS (default: none)\n",
		"  --auth-exempt list  POSTPIPE_AUTH_EXEMPT (default /healthz,/readyz)\n",
		"  --rate-limit float  POSTPIPE_RATE_LIMIT (default 0)\n",
		"  --kafka-tls  POSTPIPE_KAFKA_TLS (default false)\n",
		// The usage says the default: no bare value beside it.
		"  --kafka-tls-ca-file string  POSTPIPE_KAFKA_TLS_CA_FILE\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, `(default "`) {
		t.Errorf("run --help quotes a default:\n%s", help)
	}
	dlq := helpText(t, "dlq list")
	for _, want := range []string{
		"  --limit int  POSTPIPE_DLQ_LIMIT (default 50)\n",
		"  --match string  POSTPIPE_DLQ_MATCH (default: none)\n",
		"  --redrive-group string  POSTPIPE_DLQ_REDRIVE_GROUP\n",
	} {
		if !strings.Contains(dlq, want) {
			t.Errorf("dlq list --help lacks %q:\n%s", want, dlq)
		}
	}
}

func TestDefaultText(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("spaced", "a b", "")
	fs.String("plain", "x", "")
	fs.Duration("said", -1, "how long (default: the profile's)")
	want := map[string]struct {
		text string
		ok   bool
	}{"spaced": {`"a b"`, true}, "plain": {"x", true}, "said": {"", false}}
	for name, w := range want {
		if text, ok := DefaultText(fs.Lookup(name)); text != w.text || ok != w.ok {
			t.Errorf("DefaultText(%s) = %q, %t; want %q, %t", name, text, ok, w.text, w.ok)
		}
	}
}

// TestValidateNamesWhatWasSet: an invalid setting is named as the user
// gave it: the flag as typed when it came from the command line (which is
// then a usage error), else the variable.
func TestValidateNamesWhatWasSet(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    []string
		notWant []string
		usage   bool
	}{
		{"flag", nil, []string{"--sink-batch-size", "-5"}, []string{"--sink-batch-size: must be between 1 and 10000, got -5"}, []string{"POSTPIPE_SINK_BATCH_SIZE"}, true},
		{"single-dash flag", nil, []string{"-sink-batch-size=-5"}, []string{"-sink-batch-size: must be"}, []string{"POSTPIPE_SINK_BATCH_SIZE", "--sink-batch-size"}, true},
		{"variable", map[string]string{"POSTPIPE_SINK_BATCH_SIZE": "-5"}, nil, []string{"POSTPIPE_SINK_BATCH_SIZE: must be between"}, []string{"--sink-batch-size"}, false},
		{"flag over variable", map[string]string{"POSTPIPE_SINK_BATCH_SIZE": "-5"}, []string{"--sink-batch-size=-6"}, []string{"--sink-batch-size: must be between 1 and 10000, got -6"}, []string{"POSTPIPE_SINK_BATCH_SIZE"}, true},
		{"compared with a flag", map[string]string{"POSTPIPE_ADMIN_ADDR": ":9999"}, []string{"--http-addr=:9999"},
			[]string{`POSTPIPE_ADMIN_ADDR: must differ from --http-addr (":9999")`}, nil, true},
		{"one of each", map[string]string{"POSTPIPE_SINK_WRITERS": "0"}, []string{"--sink-batch-size=0"},
			[]string{"--sink-batch-size: must be", "POSTPIPE_SINK_WRITERS: must be"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadCmd(t, "run", tt.env, tt.args...).Validate()
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q names %q", err, w)
				}
			}
			var ue *UsageError
			if errors.As(err, &ue) != tt.usage {
				t.Errorf("usage error %t, want %t", ue != nil, tt.usage)
			}
			if ue != nil && ue.Hint() != "run 'postpipe run --help'" {
				t.Errorf("hint %q", ue.Hint())
			}
		})
	}
}

// TestFlagErrorsNameWhatWasTyped: an unknown flag, a missing value, an
// extra argument: named as typed, without the program's prefix (the
// caller adds it once).
func TestFlagErrorsNameWhatWasTyped(t *testing.T) {
	tests := []struct {
		cmd  string
		args []string
		want string
	}{
		{"run", []string{"--bogus"}, "unknown flag --bogus"},
		{"run", []string{"-bogus=1"}, "unknown flag -bogus"},
		{"dlq list", []string{"--limit"}, "flag --limit needs a value"},
		{"run", []string{"-produce-timeout=5"}, `-produce-timeout="5": want a duration such as 5s or 1m30s`},
		{"stack", []string{"extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		_, err := Load(tt.cmd, tt.args, env(nil), &bytes.Buffer{})
		var ue *UsageError
		if !errors.As(err, &ue) || err.Error() != tt.want {
			t.Errorf("%s %q: %v, want the usage error %q", tt.cmd, tt.args, err, tt.want)
		}
	}
}

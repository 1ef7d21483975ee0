package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/testkit"
)

const saslPassword = "sasl-pw-5b1f-never-shown"

// mintKey runs 'postpipe apikey name' and returns the secret and the line.
func mintKey(t *testing.T, name string) (secret, line string) {
	t.Helper()
	var out bytes.Buffer
	if err := runAPIKey([]string{name}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "pp_") {
			secret = l
		}
		if strings.HasPrefix(l, "Line for POSTPIPE_API_KEYS_FILE") && i+1 < len(lines) {
			line = lines[i+1]
		}
	}
	if secret == "" || line == "" {
		t.Fatalf("no secret or line in:\n%s", out.String())
	}
	return secret, line
}

func TestAPIKeyCommand(t *testing.T) {
	secret, line := mintKey(t, "ci-runner")
	if want := apikey.Line("ci-runner", secret); line != want {
		t.Fatalf("line %q, want %q", line, want)
	}
	keys, err := apikey.Parse(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := keys.Check(secret); !ok || name != "ci-runner" {
		t.Fatalf("the minted key does not check: %q, %v", name, ok)
	}
	for _, args := range [][]string{nil, {"a", "b"}, {"bad name"}, {"--help"}} {
		if err := runAPIKey(args, &bytes.Buffer{}); err == nil {
			t.Errorf("apikey %q succeeded", args)
		}
	}
}

// saslBroker is a kfake cluster that wants SCRAM-SHA-512 as "postpipe".
func saslBroker(t *testing.T) string {
	t.Helper()
	c := testkit.Kafka(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "postpipe", saslPassword))
	return c.ListenAddrs()[0]
}

// TestSecuredRun runs the binary with API keys and a SASL broker: requests
// need the key, the exempt probes do not, posts still get stored, and
// neither the key nor the SASL password is ever logged, even at debug level.
func TestSecuredRun(t *testing.T) {
	secret, line := mintKey(t, "tester")
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keysFile, []byte("# postpipe clients\n"+line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	p := startBinary(t, "run", "run", map[string]string{
		"POSTPIPE_DATA_DIR":             t.TempDir(),
		"POSTPIPE_HTTP_ADDR":            addr,
		"POSTPIPE_LOG_LEVEL":            "debug",
		"POSTPIPE_KAFKA_BROKERS":        saslBroker(t),
		"POSTPIPE_KAFKA_PARTITIONS":     "2",
		"POSTPIPE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
		"POSTPIPE_KAFKA_SASL_USERNAME":  "postpipe",
		"POSTPIPE_KAFKA_SASL_PASSWORD":  saslPassword,
		"POSTPIPE_API_KEYS_FILE":        keysFile,
	})
	waitReady(t, base) // exempt

	auth := map[string]string{"Authorization": "Bearer " + secret}
	if code := postJSON(t, base+"/v1/posts", input("no-key"), nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("POST without a key: %d, want 401", code)
	}
	if code := postJSON(t, base+"/v1/posts", input("wrong-key"), map[string]string{"Authorization": "Bearer " + secret + "x"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("POST with a wrong key: %d, want 401", code)
	}
	var acc struct{ ID string }
	if code := postJSON(t, base+"/v1/posts", input("with-key"), auth, &acc); code != http.StatusAccepted {
		t.Fatalf("POST with the key: %d, want 202", code)
	}
	testkit.Eventually(t, time.Minute, "the post stored", func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/posts/"+acc.ID, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	if _, err := p.terminate(); err != nil {
		t.Errorf("stop: %v", err)
	}
	logs, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte("postpipe starting")) || !bytes.Contains(logs, []byte("kafka_sasl_username=postpipe")) {
		t.Fatalf("the start-up log is missing; got:\n%s", tail(p.log, 20))
	}
	for _, secret := range []string{saslPassword, secret} {
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("the log shows a secret (%d bytes of log)", len(logs))
		}
	}
}

// TestConnectErrorsHideCredentials fails start-up on purpose and checks the
// error the user sees.
func TestConnectErrorsHideCredentials(t *testing.T) {
	for _, tt := range []struct {
		name, cmd, secret string
		timeout           time.Duration // the mongodb case fails by timing out
		env               map[string]string
	}{
		{"mongodb password", "api", "mongo-pw-77c1", 5 * time.Second, map[string]string{
			"POSTPIPE_MONGODB_URI":   "mongodb://app:mongo-pw-77c1@127.0.0.1:1/?authSource=admin",
			"POSTPIPE_KAFKA_BROKERS": "127.0.0.1:1",
		}},
		{"wrong sasl password", "run", saslPassword + "-wrong", time.Minute, map[string]string{
			"POSTPIPE_DATA_DIR":             t.TempDir(),
			"POSTPIPE_KAFKA_BROKERS":        saslBroker(t),
			"POSTPIPE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			"POSTPIPE_KAFKA_SASL_USERNAME":  "postpipe",
			"POSTPIPE_KAFKA_SASL_PASSWORD":  saslPassword + "-wrong",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["POSTPIPE_HTTP_ADDR"] = freeAddr(t)
			tt.env["POSTPIPE_LOG_LEVEL"] = "error"
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err := run(ctx, []string{tt.cmd}, func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("start-up succeeded")
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("the error shows the password: %v", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

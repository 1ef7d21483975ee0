package apikey_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/apikey"
)

func TestMintedKeyChecks(t *testing.T) {
	secretA, lineA, err := apikey.Mint("client-a")
	if err != nil {
		t.Fatal(err)
	}
	secretB, lineB, err := apikey.Mint("client.b")
	if err != nil {
		t.Fatal(err)
	}
	if secretA == secretB {
		t.Fatal("two mints gave the same secret")
	}
	if strings.Contains(lineA, secretA) || !strings.HasPrefix(lineA, "client-a:") {
		t.Fatalf("line %q must name the key and hold only its hash", lineA)
	}
	set, err := apikey.Parse(strings.NewReader("# clients\n\n" + lineA + "\n  " + lineB + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("Len = %d, want 2", set.Len())
	}
	for _, tt := range []struct {
		presented, wantName string
		wantOK              bool
	}{
		{secretA, "client-a", true},
		{secretB, "client.b", true},
		{"", "", false},
		{secretA + "x", "", false},
		{secretA[:len(secretA)-1], "", false},
		{strings.TrimPrefix(lineA, "client-a:"), "", false}, // the hash is not the key
	} {
		name, ok := set.Check(tt.presented)
		if name != tt.wantName || ok != tt.wantOK {
			t.Errorf("Check(%q) = %q, %v; want %q, %v", tt.presented, name, ok, tt.wantName, tt.wantOK)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	secret := "pp_not-a-hash-but-a-secret-pasted-by-mistake"
	good := apikey.Line("a", "k1")
	for name, tt := range map[string]struct {
		file, wantErr string
	}{
		"empty":             {"# nothing\n\n", "no keys"},
		"no colon":          {"abc\n", "line 1"},
		"bad name":          {"a b:" + strings.Repeat("0", 64), "line 1"},
		"short hash":        {"a:abcd\n", "64 hex digits"},
		"secret for hash":   {"a:" + secret + "\n", "line 1"},
		"duplicate name":    {good + "\n" + apikey.Line("a", "k2") + "\n", "used twice"},
		"duplicate secret":  {good + "\n" + apikey.Line("b", "k1") + "\n", "listed twice"},
		"scope not streams": {good + " orders\n", "only streams="},
		"bad stream name":   {good + " streams=orders,Clicks\n", "not a stream name"},
		"empty stream list": {good + " streams=\n", "not a stream name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := apikey.Parse(strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q repeats the line's content", err)
			}
		})
	}
}

func TestStreamsLimitAKey(t *testing.T) {
	set, err := apikey.Parse(strings.NewReader(apikey.Line("all", "k1") + "\n" + apikey.Line("shop", "k2") + " streams=orders,clicks\n"))
	if err != nil {
		t.Fatal(err)
	}
	if streams, limited := set.Streams("all"); limited || streams != nil {
		t.Errorf("a key without streams= is limited to %v", streams)
	}
	if streams, limited := set.Streams("shop"); !limited || strings.Join(streams, ",") != "orders,clicks" {
		t.Errorf("shop may use %v (limited %v), want orders,clicks", streams, limited)
	}
	if name, ok := set.Check("k2"); !ok || name != "shop" {
		t.Errorf("a limited key does not check: %q %v", name, ok)
	}
	if got := set.Limited(); len(got) != 1 || len(got["shop"]) != 2 {
		t.Errorf("Limited() = %v", got)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(apikey.Line("ops", "s3cret")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := apikey.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := set.Check("s3cret"); !ok || name != "ops" {
		t.Fatalf("Check = %q, %v", name, ok)
	}
	if _, err := apikey.Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestMintRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "a b", "a:b", "-a", strings.Repeat("x", 65)} {
		if _, _, err := apikey.Mint(name); err == nil {
			t.Errorf("Mint(%q) succeeded", name)
		}
	}
}

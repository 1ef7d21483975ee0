package config

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
)

// TestDLQVariablesHaveTheirPrefix: the dlq tools' plain flags (--limit)
// are POSTPIPE_DLQ_* variables, derived by EnvName, read by Load, known
// and in the reference.
func TestDLQVariablesHaveTheirPrefix(t *testing.T) {
	var out bytes.Buffer
	c, err := Load("dlq list", nil, env(map[string]string{
		"POSTPIPE_DLQ_LIMIT": "7", "POSTPIPE_DLQ_MATCH": "boom", "POSTPIPE_DLQ_REDRIVE_GROUP": "g2", "POSTPIPE_DLQ_STREAM": "orders",
	}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.DLQLimit != 7 || c.DLQMatch != "boom" || c.DLQRedriveGroup != "g2" || c.DLQStream != "orders" {
		t.Errorf("Load from POSTPIPE_DLQ_* = %+v", c.DLQ)
	}
	if out.Len() != 0 {
		t.Errorf("Load warned %q", out.String())
	}
	known := KnownVariables()
	for _, v := range []string{"POSTPIPE_DLQ_LIMIT", "POSTPIPE_DLQ_MATCH", "POSTPIPE_DLQ_REDRIVE_GROUP", "POSTPIPE_DLQ_STREAM"} {
		if !slices.Contains(known, v) {
			t.Errorf("%s is not known", v)
		}
	}
	for _, v := range []string{"POSTPIPE_LIMIT", "POSTPIPE_MATCH", "POSTPIPE_REDRIVE_GROUP", "POSTPIPE_STREAM"} {
		if slices.Contains(known, v) {
			t.Errorf("%s is still known", v)
		}
	}
	if ref := Reference(); !strings.Contains(ref, "| `POSTPIPE_DLQ_LIMIT` | `--limit` |") {
		t.Errorf("the reference lacks POSTPIPE_DLQ_LIMIT:\n%s", ref)
	}
	// The error of a bad value names the variable as set.
	if _, err := Load("dlq list", nil, env(map[string]string{"POSTPIPE_DLQ_LIMIT": "x"}), &out); err == nil || !strings.Contains(err.Error(), `POSTPIPE_DLQ_LIMIT="x"`) {
		t.Errorf("POSTPIPE_DLQ_LIMIT=x: %v", err)
	}
	c = Default()
	c.DLQLimit = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "POSTPIPE_DLQ_LIMIT:") {
		t.Errorf("Validate with a negative limit: %v", err)
	}
}

// TestDLQOldVariablesStillRead: the names before the prefix are read, with
// a warning; the new name wins when both are set. A redrive script that
// set POSTPIPE_MATCH must not redrive everything.
func TestDLQOldVariablesStillRead(t *testing.T) {
	var out bytes.Buffer
	c, err := Load("dlq redrive", nil, env(map[string]string{"POSTPIPE_MATCH": "boom", "POSTPIPE_LIMIT": "3"}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.DLQMatch != "boom" || c.DLQLimit != 3 {
		t.Errorf("the old names were not read: %+v", c.DLQ)
	}
	for _, want := range []string{"POSTPIPE_MATCH is deprecated: read as POSTPIPE_DLQ_MATCH", "POSTPIPE_LIMIT is deprecated: read as POSTPIPE_DLQ_LIMIT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("warnings %q lack %q", out.String(), want)
		}
	}
	out.Reset()
	c, err = Load("dlq redrive", nil, env(map[string]string{"POSTPIPE_MATCH": "old", "POSTPIPE_DLQ_MATCH": "new"}), &out)
	if err != nil {
		t.Fatal(err)
	}
	if c.DLQMatch != "new" || !strings.Contains(out.String(), "POSTPIPE_MATCH is deprecated and ignored: POSTPIPE_DLQ_MATCH is set") {
		t.Errorf("both set: match %q, warnings %q", c.DLQMatch, out.String())
	}
	// An old value of the wrong form is named by the name it was set by.
	if _, err := Load("dlq list", nil, env(map[string]string{"POSTPIPE_LIMIT": "x"}), &out); err == nil || !strings.Contains(err.Error(), `POSTPIPE_LIMIT="x"`) {
		t.Errorf("POSTPIPE_LIMIT=x: %v", err)
	}
	// Commands without the dlq section do not read them.
	out.Reset()
	if c := loadCmd(t, "run", map[string]string{"POSTPIPE_LIMIT": "3"}); c.DLQLimit != Default().DLQLimit {
		t.Errorf("run read POSTPIPE_LIMIT")
	}
}

// TestSectionsShareNoFlag: a flag name is one setting, so EnvName can
// derive its variable from the name alone.
func TestSectionsShareNoFlag(t *testing.T) {
	seen := map[string]Section{}
	for _, s := range allSections {
		c := Default()
		fs := flag.NewFlagSet(string(s), flag.ContinueOnError)
		c.section(s).register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if other, ok := seen[f.Name]; ok {
				t.Errorf("--%s is in the sections %s and %s", f.Name, other, s)
			}
			seen[f.Name] = s
		})
	}
}

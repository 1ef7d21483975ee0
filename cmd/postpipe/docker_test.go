package main

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/config"
)

// The container files are never built or started by the tests (no Docker
// daemon is assumed); these checks keep them in step with the code.

// configVariables lists every POSTPIPE_* variable the service reads, from
// the help text each flag prints.
func configVariables(t *testing.T) map[string]bool {
	t.Helper()
	var help bytes.Buffer
	if _, err := config.Load("api", []string{"--help"}, noEnv, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("config.Load --help: %v", err)
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\((POSTPIPE_[A-Z0-9_]+),`).FindAllStringSubmatch(help.String(), -1) {
		vars[m[1]] = true
	}
	if !vars[config.EnvName("kafka-brokers")] || len(vars) < 20 {
		t.Fatalf("found only %d variables in the help text", len(vars))
	}
	return vars
}

var postpipeVar = regexp.MustCompile(`POSTPIPE_[A-Z0-9_]+`)

func TestContainerFilesNameRealVariables(t *testing.T) {
	vars := configVariables(t)
	for _, file := range []string{"../../compose.yaml", "../../Dockerfile"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := postpipeVar.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s names no POSTPIPE_* variable", file)
		}
		for _, name := range names {
			if !vars[name] {
				t.Errorf("%s sets %s, which is no postpipe setting", file, name)
			}
		}
	}
}

// composeServices splits the services: block of compose.yaml into the text
// of each service, by indentation: enough for a file this project writes.
func composeServices(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]string{}
	in, current := false, ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "services:":
			in = true
		case in && line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#"):
			in = false
		case in && regexp.MustCompile(`^  [a-z][a-z0-9-]*:\s*$`).MatchString(line):
			current = strings.TrimSuffix(strings.TrimSpace(line), ":")
			services[current] = ""
		case in && current != "":
			services[current] += line + "\n"
		}
	}
	return services
}

func TestComposeServices(t *testing.T) {
	services := composeServices(t)
	for _, name := range []string{"kafka", "mongo", "api", "sink"} {
		body, ok := services[name]
		if !ok {
			t.Errorf("compose.yaml has no service %q (it has %v)", name, slices.Sorted(maps.Keys(services)))
			continue
		}
		if !strings.Contains(body, "healthcheck:") {
			t.Errorf("service %s has no health check", name)
		}
	}
	for _, name := range []string{"api", "sink"} {
		body := services[name]
		if !strings.Contains(body, "condition: service_healthy") {
			t.Errorf("service %s does not wait for healthy dependencies", name)
		}
		if !strings.Contains(body, `"/postpipe", "probe"`) {
			t.Errorf("service %s is not checked with postpipe probe", name)
		}
	}
	if !strings.Contains(services["kafka"], "apache/kafka:") || !strings.Contains(services["mongo"], "image: mongo:8") {
		t.Errorf("kafka or mongo is not the official image")
	}
}

// The settings compose.yaml gives the api and the sink pass validation.
func TestComposeSettingsAreValid(t *testing.T) {
	b, err := os.ReadFile("../../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]string{}
	setting := regexp.MustCompile(`^\s+(POSTPIPE_[A-Z0-9_]+):\s*(.*?)\s*$`)
	for _, line := range strings.Split(string(b), "\n") {
		if m := setting.FindStringSubmatch(line); m != nil {
			shared[m[1]] = strings.Trim(m[2], `"'`)
		}
	}
	for _, cmd := range []string{"api", "sink"} {
		cfg, err := config.Load(cmd, nil, func(k string) string { return shared[k] }, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s with the settings of compose.yaml: %v", cmd, err)
		}
		if cfg.EmbeddedKafka() || cfg.EmbeddedMongo() {
			t.Errorf("%s would start an embedded broker or store in the container", cmd)
		}
	}
}

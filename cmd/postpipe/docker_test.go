package main

import (
	"bytes"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/config"
)

// The container files are never built or started by the tests (no Docker
// daemon is assumed); these checks keep them in step with the code.

// configVariables lists every POSTPIPE_* variable some command reads.
func configVariables(t *testing.T) map[string]bool {
	t.Helper()
	vars := map[string]bool{}
	for _, v := range config.KnownVariables() {
		vars[v] = true
	}
	if !vars[config.EnvName("kafka-brokers")] || len(vars) < 20 {
		t.Fatalf("found only %d variables", len(vars))
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

// composeValue is the value of the first "key: value" line of body.
func composeValue(body, key string) string {
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(key) + `:\s*(.*?)\s*$`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"'`)
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The image is built by one service; the others run it and never pull it
// (a second build of the same tag can collide with the first).
func TestComposeBuildsTheImageOnce(t *testing.T) {
	services := composeServices(t)
	var builders []string
	for name, body := range services {
		if regexp.MustCompile(`(?m)^    build:`).MatchString(body) {
			builders = append(builders, name)
		}
	}
	if len(builders) != 1 {
		t.Fatalf("services that build an image: %v, want exactly one", builders)
	}
	image := composeValue(services[builders[0]], "image")
	for _, name := range []string{"api", "sink"} {
		if got := composeValue(services[name], "image"); got != image {
			t.Errorf("service %s runs image %q, want %q (the one %s builds)", name, got, image, builders[0])
		}
		if name != builders[0] && composeValue(services[name], "pull_policy") != "never" {
			t.Errorf("service %s would try to pull %s from a registry: want pull_policy: never", name, image)
		}
	}
}

// The sink has no API port: its health is the admin listener's /readyz
// (store and broker answer, the sink is a group member), not / (always 200).
func TestComposeSinkHealthIsReadiness(t *testing.T) {
	sink := composeServices(t)["sink"]
	admin := composeValue(sink, "POSTPIPE_ADMIN_ADDR")
	_, port, ok := strings.Cut(admin, ":")
	if !ok || port == "" {
		t.Fatalf("sink has no POSTPIPE_ADMIN_ADDR with a port (got %q)", admin)
	}
	if want := `"http://127.0.0.1:` + port + `/readyz"]`; !strings.Contains(sink, want) {
		t.Errorf("sink health check does not probe %s", want)
	}
}

// The Go image is the patch release go.mod's toolchain line names, and
// nothing in the Dockerfile lets an older local Go build silently.
func TestDockerfileGoMatchesGoMod(t *testing.T) {
	gomod, dockerfile := readRepoFile(t, "go.mod"), readRepoFile(t, "Dockerfile")
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(gomod)
	if toolchain == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	arg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(dockerfile)
	if arg == nil || !strings.Contains(dockerfile, "FROM golang:${GO_VERSION}-") {
		t.Fatal("Dockerfile does not build FROM golang:${GO_VERSION}-… with ARG GO_VERSION")
	}
	if arg[1] != toolchain[1] {
		t.Errorf("Dockerfile builds with Go %s, go.mod names the toolchain go%s", arg[1], toolchain[1])
	}
	if regexp.MustCompile(`(?m)^(ENV|ARG)\s.*GOTOOLCHAIN=local`).MatchString(dockerfile) {
		t.Error("Dockerfile sets GOTOOLCHAIN=local")
	}
}

// compose runs the Kafka the tests run, keeps its data on a volume, and
// asks for as many in-sync replicas as the topics postpipe creates.
func TestComposeKafka(t *testing.T) {
	kafkaSvc := composeServices(t)["kafka"]
	pom := readRepoFile(t, "deploy/kafka/pom.xml")
	version := regexp.MustCompile(`<kafka.version>(.*?)</kafka.version>`).FindStringSubmatch(pom)
	if version == nil {
		t.Fatal("no kafka.version in deploy/kafka/pom.xml")
	}
	if got := composeValue(kafkaSvc, "image"); got != "apache/kafka:"+version[1] {
		t.Errorf("kafka image %q, want apache/kafka:%s (deploy/kafka/pom.xml)", got, version[1])
	}

	logDirs := composeValue(kafkaSvc, "KAFKA_LOG_DIRS")
	if logDirs == "" {
		t.Fatal("kafka does not set KAFKA_LOG_DIRS")
	}
	mount := regexp.MustCompile(`(?m)^\s+- ([a-z0-9-]+):` + regexp.QuoteMeta(logDirs) + `\s*$`).FindStringSubmatch(kafkaSvc)
	if mount == nil {
		t.Fatalf("kafka's log dir %s is not on a named volume", logDirs)
	}
	top := readRepoFile(t, "compose.yaml")
	if !regexp.MustCompile(`(?m)^volumes:\n(  .*\n)*  ` + regexp.QuoteMeta(mount[1]) + `:`).MatchString(top) {
		t.Errorf("volume %s is not declared under the top-level volumes:", mount[1])
	}

	// What postpipe creates the topics with, from the compose settings.
	shared := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(POSTPIPE_[A-Z0-9_]+):\s*(.*?)\s*$`).FindAllStringSubmatch(top, -1) {
		shared[m[1]] = strings.Trim(m[2], `"'`)
	}
	cfg, err := config.Load("api", nil, func(k string) string { return shared[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KafkaReplication < 1 {
		t.Fatalf("compose leaves the replication factor to the broker (%d): say it", cfg.KafkaReplication)
	}
	minISR := cfg.KafkaMinInsyncReplicas
	if minISR == 0 {
		minISR = max(cfg.KafkaReplication-1, 1)
	}
	broker, err := strconv.Atoi(composeValue(kafkaSvc, "KAFKA_MIN_INSYNC_REPLICAS"))
	if err != nil {
		t.Fatalf("kafka's KAFKA_MIN_INSYNC_REPLICAS: %v", err)
	}
	if minISR > cfg.KafkaReplication || broker != minISR {
		t.Errorf("min.insync.replicas: postpipe's topics %d (replication %d), the broker's %d: want them equal and at most the replication",
			minISR, cfg.KafkaReplication, broker)
	}
}

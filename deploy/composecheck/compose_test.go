package composecheck

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeLoads: the file loads as `docker compose up` would load it
// with nothing set (so no service, in a profile or not, requires a
// variable), and its default services are the pipeline.
func TestComposeLoads(t *testing.T) {
	plain := load(t, nil)
	for _, name := range []string{"kafka", "mongo", "api", "sink"} {
		if _, ok := plain.Services[name]; !ok {
			t.Errorf("docker compose up does not start %s (it starts %v)", name, slices.Sorted(maps.Keys(plain.Services)))
		}
	}
}

// TestLoaderValidates: the loader validates the file against the compose
// schema, so a misspelt key or an unknown condition fails the load.
func TestLoaderValidates(t *testing.T) {
	path, content := composeFile(t)
	for _, tc := range []struct{ from, to string }{
		{"condition: service_healthy", "condition: service_ready"},
		{"healthcheck:", "healthchek:"},
	} {
		broken := strings.Replace(string(content), tc.from, tc.to, 1)
		if broken == string(content) {
			t.Fatalf("%s has no %q", path, tc.from)
		}
		if _, err := loadContent(path, []byte(broken), nil); err == nil {
			t.Errorf("the loader takes %s with %q for %q", path, tc.to, tc.from)
		}
	}
}

// TestComposeChecks runs every check on the file with all its profiles.
func TestComposeChecks(t *testing.T) {
	p := load(t, developerEnv, "*")
	known := settings(t)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		t.Run(name, func(t *testing.T) {
			for _, problem := range checks[name](p, known) {
				t.Error(problem)
			}
		})
	}
}

// TestChecksCatch: each check finds what it is for, on the file with one
// thing broken, and lets the allowed forms pass.
func TestChecksCatch(t *testing.T) {
	known := settings(t)
	image := func(name, ref string) func(types.Services) {
		return func(s types.Services) { edit(s, name, func(c *types.ServiceConfig) { c.Image = ref }) }
	}
	setEnv := func(name, variable, value string) func(types.Services) {
		return func(s types.Services) {
			edit(s, name, func(c *types.ServiceConfig) {
				if c.Environment == nil {
					c.Environment = types.MappingWithEquals{}
				}
				c.Environment[variable] = &value
			})
		}
	}
	apiPort := func(hostIP string, extensions types.Extensions) func(types.Services) {
		return func(s types.Services) {
			edit(s, "api", func(c *types.ServiceConfig) {
				c.Ports[0].HostIP = hostIP
				c.Extensions = extensions
			})
		}
	}
	for _, tc := range []struct {
		name  string
		check string
		edit  func(types.Services)
		want  string // "": no problem
	}{
		{"bare major tag", "images pinned", image("mongo", "mongo:8"), "mongo: image mongo:8 is not pinned to an exact version"},
		{"major.minor tag", "images pinned", image("mongo", "mongo:8.0"), "the tag 8.0 moves"},
		{"latest", "images pinned", image("kafka", "apache/kafka:latest"), "pulls latest"},
		{"no tag", "images pinned", image("kafka", "apache/kafka"), "pulls latest"},
		{"a registry's port is no tag", "images pinned", image("kafka", "registry.local:5000/apache/kafka"), "pulls latest"},
		{"digest", "images pinned", image("mongo", "mongo@sha256:"+strings.Repeat("ab", 32)), ""},
		{"awaited without healthcheck", "awaited services healthy", func(s types.Services) {
			edit(s, "mongo", func(c *types.ServiceConfig) { c.HealthCheck = nil })
		}, "mongo: api"},
		{"healthcheck disabled", "awaited services healthy", func(s types.Services) {
			edit(s, "kafka", func(c *types.ServiceConfig) { c.HealthCheck.Disable = true })
		}, "kafka: api wait for it, but it has no healthcheck"},
		{"started, not healthy", "depends_on healthy", func(s types.Services) {
			edit(s, "api", func(c *types.ServiceConfig) {
				d := c.DependsOn["kafka"]
				d.Condition = types.ServiceConditionStarted
				c.DependsOn["kafka"] = d
			})
		}, "api: depends_on kafka with condition service_started"},
		{"every interface", "ports on loopback", apiPort("", nil), "published as 18480 on every interface"},
		{"0.0.0.0", "ports on loopback", apiPort("0.0.0.0", nil), "on 0.0.0.0"},
		{"public by intent", "ports on loopback", apiPort("", types.Extensions{publicExtension: true}), ""},
		{"public, not a boolean", "ports on loopback", apiPort("127.0.0.1", types.Extensions{publicExtension: "yes"}), "x-postpipe-public is yes"},
		{"host network", "ports on loopback", func(s types.Services) {
			edit(s, "sink", func(c *types.ServiceConfig) { c.NetworkMode = "host" })
		}, "sink: network_mode host"},
		{"misspelt setting", "known settings", setEnv("sink", "POSTPIPE_KAFKA_BROKER", "kafka:9092"),
			"sink: POSTPIPE_KAFKA_BROKER is no setting of postpipe sink"},
		{"another command's setting", "known settings", setEnv("sink", "POSTPIPE_HTTP_ADDR", ":8080"),
			"sink: POSTPIPE_HTTP_ADDR is no setting of postpipe sink"},
		{"a setting where postpipe does not run", "known settings", setEnv("mongo", "POSTPIPE_MONGODB_URI", "mongodb://mongo:27017/"),
			"mongo: sets POSTPIPE_MONGODB_URI, but it does not run postpipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, developerEnv, "*")
			if got := checks[tc.check](p, known); len(got) != 0 {
				t.Fatalf("%s fails on the file as it is: %q", tc.check, got)
			}
			tc.edit(p.Services)
			got := checks[tc.check](p, known)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("%s: want no problem, got %q", tc.check, got)
			case tc.want != "" && !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, tc.want) }):
				t.Errorf("%s: want a problem containing %q, got %q", tc.check, tc.want, got)
			}
		})
	}
}

// edit changes one service of services in place.
func edit(services types.Services, name string, f func(*types.ServiceConfig)) {
	s, ok := services[name]
	if !ok {
		panic(fmt.Sprintf("no service %s", name))
	}
	f(&s)
	services[name] = s
}

// browser is the store browser among services, if any.
func browser(services types.Services) (types.ServiceConfig, bool) {
	for _, name := range slices.Sorted(maps.Keys(services)) {
		if strings.HasPrefix(services[name].Image, "mongo-express:") {
			return services[name], true
		}
	}
	return types.ServiceConfig{}, false
}

func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// TestComposeStoreBrowser: mongo-express is in the file, behind the tools
// profile, on the store postpipe writes to, read-only, with basic auth
// from the developer's variables and no password of its own.
func TestComposeStoreBrowser(t *testing.T) {
	plain := load(t, nil)
	if b, ok := browser(plain.Services); ok {
		t.Errorf("a plain docker compose up starts the store browser %s: it belongs in the tools profile", b.Name)
	}
	b, ok := browser(plain.DisabledServices)
	if !ok {
		t.Fatal("compose.yaml has no store browser (a mongo-express service in a profile)")
	}
	if !slices.Equal(b.Profiles, []string{"tools"}) {
		t.Errorf("%s: profiles %q, want [tools]", b.Name, b.Profiles)
	}

	tools := load(t, developerEnv, "tools")
	b = tools.Services[b.Name]
	for name, want := range map[string]string{
		"ME_CONFIG_BASICAUTH":          "true",
		"ME_CONFIG_BASICAUTH_USERNAME": developerEnv["MONGO_EXPRESS_USER"],
		"ME_CONFIG_BASICAUTH_PASSWORD": developerEnv["MONGO_EXPRESS_PASSWORD"],
		"ME_CONFIG_OPTIONS_READONLY":   "true",
	} {
		if got := env(b, name); got != want {
			t.Errorf("%s: %s=%q with MONGO_EXPRESS_USER and MONGO_EXPRESS_PASSWORD set, want %q", b.Name, name, got, want)
		}
	}
	if got, want := strings.TrimSuffix(env(b, "ME_CONFIG_MONGODB_URL"), "/"), strings.TrimSuffix(env(tools.Services["api"], "POSTPIPE_MONGODB_URI"), "/"); got != want || got == "" {
		t.Errorf("%s browses %q; postpipe writes to %q", b.Name, got, want)
	}
	if dep, ok := b.DependsOn["mongo"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("%s does not wait for mongo to be healthy", b.Name)
	}
	if len(b.Ports) == 0 {
		t.Errorf("%s publishes no port", b.Name)
	}

	unset := load(t, nil, "tools")
	ub := unset.Services[b.Name]
	if pw := env(ub, "ME_CONFIG_BASICAUTH_PASSWORD"); pw != "" {
		t.Errorf("%s: without MONGO_EXPRESS_PASSWORD the password is %q: a password written in the file is everyone's", b.Name, pw)
	}
	if user := env(ub, "ME_CONFIG_BASICAUTH_USERNAME"); user == "" {
		t.Errorf("%s: without MONGO_EXPRESS_USER there is no user (mongo-express would take admin)", b.Name)
	}

	// The command refuses to start without a password, then hands over to
	// the image's entrypoint: run it here with sh, the hand-over replaced.
	if len(b.Command) != 3 || b.Command[0] != "sh" || b.Command[1] != "-c" {
		t.Fatalf("%s: command %q, want sh -c with the password guard", b.Name, b.Command)
	}
	const handOver = "exec /docker-entrypoint.sh mongo-express"
	script, ok := strings.CutSuffix(b.Command[2], handOver)
	if !ok {
		t.Fatalf("%s: the command does not end by handing over (%s): %q", b.Name, handOver, b.Command[2])
	}
	run := func(password string) (string, error) {
		cmd := exec.Command("sh", "-c", script+"echo handed over")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ME_CONFIG_BASICAUTH_PASSWORD=" + password}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(""); err == nil || !strings.Contains(out, "MONGO_EXPRESS_PASSWORD") || strings.Contains(out, "handed over") {
		t.Errorf("%s without a password: %v, %q; want it to stop, naming MONGO_EXPRESS_PASSWORD", b.Name, err, out)
	}
	if out, err := run("pw"); err != nil || strings.TrimSpace(out) != "handed over" {
		t.Errorf("%s with a password: %v, %q; want it to hand over", b.Name, err, out)
	}
}

// TestReadmeComposeSection: README.md's compose section names every
// variable the file reads, every profile, and the address of each port a
// service in a profile publishes (how to open the store browser).
func TestReadmeComposeSection(t *testing.T) {
	readme, err := os.ReadFile(repoRoot + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Docker Compose\n")
	if !ok {
		t.Fatal("README.md has no '## Docker Compose' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	p := load(t, developerEnv, "*")
	for _, v := range p.variables {
		if !strings.Contains(section, v) {
			t.Errorf("README.md's compose section does not name %s, which compose.yaml reads", v)
		}
	}
	for _, s := range p.services() {
		for _, profile := range s.Profiles {
			if !strings.Contains(section, "--profile "+profile) {
				t.Errorf("README.md's compose section does not say --profile %s (service %s)", profile, s.Name)
			}
		}
		if len(s.Profiles) == 0 {
			continue
		}
		for _, port := range s.Ports {
			if url := fmt.Sprintf("http://%s:%s/", port.HostIP, port.Published); !strings.Contains(section, url) {
				t.Errorf("README.md's compose section does not give %s (service %s)", url, s.Name)
			}
		}
	}
}

package chartcheck

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// chartRunEnv switches TestChartPodsServe on; make test-deploy sets it.
const chartRunEnv = "POSTPIPE_TEST_CHART_RUN"

// TestChartPodsServe runs what the chart renders, not only decodes it: for
// the default values (with the ServiceMonitor on) and the production file
// it takes each workload's container (command, args, env, volumes, user)
// and starts postpipe with exactly that environment in a network
// namespace of its own (a pod, with a veth pair to this host, the node),
// against a local broker and store ('postpipe stack'). From the node, as
// the kubelet and Prometheus would, it then runs every probe and scrapes
// every monitor endpoint, checks that the API port serves no /metrics,
// and runs the helm test pod's script against the API pod. Only the
// connection to Kafka and MongoDB is replaced: the brokers (plain Kafka,
// no TLS or SASL, replication -1 on the one-broker stack) and the URI
// Secret (the stack's). A control run gives the sink a port-only admin
// address and expects the node's probe to fail while the pod answers
// itself: what the chart rendered before issue 20.
//
// It needs root (network namespaces), ip and setpriv, and a build of
// postpipe (POSTPIPE_BIN, else go build).
func TestChartPodsServe(t *testing.T) {
	if os.Getenv(chartRunEnv) != "1" {
		t.Skipf("set %s=1 (make test-deploy does) to start the rendered pods; it needs root and ip netns", chartRunEnv)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1: starting the pods in network namespaces needs root", chartRunEnv)
	}
	for _, tool := range []string{"ip", "setpriv", "sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s=1 needs %s: %v", chartRunEnv, tool, err)
		}
	}
	bin := postpipeBinary(t)
	l := newLab(t)
	stack := l.startStack(t, bin)
	for _, v := range []struct {
		name string
		args []string
	}{
		{"defaults with the ServiceMonitor", []string{"--set", "metrics.serviceMonitor.enabled=true"}},
		{"production", []string{"-f", productionFile}},
	} {
		t.Run(v.name, func(t *testing.T) {
			r := renderAndDecode(t, v.args...)
			if len(r.deployments) != 1 || len(r.statefulSets) != 1 || len(r.monitors) != 1 {
				t.Fatalf("%d Deployments, %d StatefulSets, %d monitors; want one of each", len(r.deployments), len(r.statefulSets), len(r.monitors))
			}
			api := l.startPod(t, bin, stack, r.deployments[0].Name+"-0", &r.deployments[0].Spec.Template, nil)
			sink := l.startPod(t, bin, stack, r.statefulSets[0].Name+"-0", &r.statefulSets[0].Spec.Template, nil)
			var wg sync.WaitGroup
			for _, p := range []*pod{api, sink} {
				wg.Go(func() { p.probe(t) })
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			scrapeMonitors(t, r, map[string]*pod{"api": api, "sink": sink})
			// With the key, where keys are on: without one the answer is 401
			// whatever the path.
			key := http.Header{"Authorization": {"Bearer " + stack.apiKey}}
			if code, _, err := get(fmt.Sprintf("http://%s/metrics", api.addr("http")), key, 3*time.Second); err != nil || code != http.StatusNotFound {
				t.Errorf("GET /metrics on the API port: %d, %v; want 404 (the metrics are on the admin listener)", code, err)
			}
			runTestPods(t, r, stack, api)
		})
	}
	t.Run("control: a port-only admin address is out of the node's reach", func(t *testing.T) {
		r := renderAndDecode(t)
		tpl := r.statefulSets[0].Spec.Template.DeepCopy()
		c := &tpl.Spec.Containers[0]
		port := containerPort(c, "admin")
		sink := l.startPod(t, bin, stack, r.statefulSets[0].Name+"-1", tpl, map[string]string{"POSTPIPE_ADMIN_ADDR": fmt.Sprintf(":%d", port)})
		// The pod itself reaches its loopback listener...
		inside := func() bool {
			return exec.Command("ip", "netns", "exec", sink.ns, bin, "probe", "--timeout", "1s", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)).Run() == nil
		}
		deadline := time.Now().Add(60 * time.Second)
		for !inside() {
			if time.Now().After(deadline) || sink.exited() {
				t.Fatalf("the sink never answered /healthz on its own loopback:\n%s", sink.logs.String())
			}
			time.Sleep(250 * time.Millisecond)
		}
		// ...the node does not.
		if code, _, err := get(fmt.Sprintf("http://%s/healthz", sink.addr("admin")), nil, time.Second); err == nil {
			t.Errorf("the node reached a port-only admin listener (%d): this test could not tell item 1 of issue 20", code)
		}
	})
}

// postpipeBinary is POSTPIPE_BIN, else a build of ./cmd/postpipe.
func postpipeBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("POSTPIPE_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	dir := sharedDir(t)
	bin := filepath.Join(dir, "postpipe")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/postpipe")
	cmd.Dir = "../../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/postpipe: %v\n%s", err, out)
	}
	return bin
}

// sharedDir is a temporary directory the pods' user (65532) can read:
// t.TempDir's are root's alone.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "chartpods-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lab is the node: network namespaces for the pods, each with a veth
// pair to this host (the pod's eth0 and a host side), and an address on
// the host, reachable from every pod, where the stack listens in place of
// the in-cluster Kafka and MongoDB. The host does not forward between
// pods: none needs another.
type lab struct {
	name   string // prefix of the namespaces and links
	subnet string // "100.A.B." a /24 of 100.64.0.0/10
	svcIP  string
	pods   int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	var r [2]byte
	_, _ = rand.Read(r[:])
	l := &lab{name: fmt.Sprintf("ppc%02x%02x", r[0], r[1]), subnet: fmt.Sprintf("100.%d.%d.", 64+int(r[0])%64, r[1])}
	l.svcIP = l.subnet + "254"
	// The services' address, on a veth pair kept in the host: a local
	// address that every pod routes to through its default route.
	svc := l.name + "s"
	ip(t, "link", "add", svc, "type", "veth", "peer", "name", svc+"p")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", svc).Run() })
	ip(t, "addr", "add", l.svcIP+"/32", "dev", svc)
	ip(t, "link", "set", svc, "up")
	ip(t, "link", "set", svc+"p", "up")
	return l
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newPodNet makes a namespace with eth0 at 100.A.B.(4i+2)/30, its default
// route via the host side at 4i+1, and loopback up; it returns the
// namespace and the pod's address.
func (l *lab) newPodNet(t *testing.T) (ns, podIP string) {
	t.Helper()
	i := l.pods
	l.pods++
	if 4*i+2 >= 254 {
		t.Fatal("too many pods for one /24")
	}
	ns = fmt.Sprintf("%s-%d", l.name, i)
	host, peer := fmt.Sprintf("%sh%d", l.name, i), fmt.Sprintf("%sp%d", l.name, i)
	hostIP, podIP := l.subnet+strconv.Itoa(4*i+1), l.subnet+strconv.Itoa(4*i+2)
	ip(t, "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ip(t, "link", "add", host, "type", "veth", "peer", "name", peer)
	ip(t, "link", "set", peer, "netns", ns)
	ip(t, "-n", ns, "link", "set", peer, "name", "eth0")
	ip(t, "addr", "add", hostIP+"/30", "dev", host)
	ip(t, "link", "set", host, "up")
	ip(t, "-n", ns, "addr", "add", podIP+"/30", "dev", "eth0")
	ip(t, "-n", ns, "link", "set", "eth0", "up")
	ip(t, "-n", ns, "link", "set", "lo", "up")
	ip(t, "-n", ns, "route", "add", "default", "via", hostIP)
	return ns, podIP
}

// stack is the local broker and store, and the Secrets the pods read
// (their content made up here, the MongoDB URI pointing at the stack).
type stack struct {
	kafka   string
	secrets map[string]map[string]string
	apiKey  string // a key the keys Secret holds
}

func (l *lab) startStack(t *testing.T, bin string) *stack {
	t.Helper()
	free := func() string {
		ln, err := net.Listen("tcp", l.svcIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	s := &stack{kafka: free()}
	mongo := free()
	cmd := exec.Command(bin, "stack")
	cmd.Env = []string{
		"POSTPIPE_DATA_DIR=" + t.TempDir(),
		"POSTPIPE_STACK_KAFKA_ADDR=" + s.kafka,
		"POSTPIPE_STACK_MONGODB_ADDR=" + mongo,
		"POSTPIPE_LOG_LEVEL=warn",
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(cmd) })
	deadline := time.Now().Add(60 * time.Second)
	for _, a := range []string{s.kafka, mongo} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stack does not listen on %s: %v\n%s", a, err, logs.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	s.apiKey = "pp_chartcheck_" + hex.EncodeToString(key[:])
	sum := sha256.Sum256([]byte(s.apiKey))
	keysLine := "chartcheck:" + hex.EncodeToString(sum[:]) + "\n"
	uri := "mongodb://" + mongo + "/"
	// The Secrets the default and production values name.
	s.secrets = map[string]map[string]string{
		"postpipe-mongodb":      {"uri": uri},
		"postpipe-api-keys":     {"api-keys": keysLine},
		"postpipe-test-api-key": {"api-key": s.apiKey},
		"postpipe-kafka-sasl":   {"username": "unused", "password": "unused"},
		"kafka-ca":              {"ca.crt": "unused: the stack speaks plain Kafka"},
	}
	return s
}

// pod is one running container of a rendered pod template.
type pod struct {
	name, ns, ip string
	c            *corev1.Container
	cmd          *exec.Cmd
	logs         *syncBuffer
	done         chan struct{}
}

// startPod starts the first container of tpl as pod name: its args (its
// command must be the image's entrypoint, postpipe), its environment
// resolved as the kubelet would (Secrets from the stack's, the pod name
// from metadata.name) with the connection to Kafka replaced, its Secret
// volumes written out, as the user its securityContext names. override
// sets variables after all that (the control run's).
func (l *lab) startPod(t *testing.T, bin string, s *stack, name string, tpl *corev1.PodTemplateSpec, override map[string]string) *pod {
	t.Helper()
	c := &tpl.Spec.Containers[0]
	if len(c.Command) != 0 {
		t.Fatalf("%s: command %v: want the image's entrypoint (postpipe)", name, c.Command)
	}
	if len(c.EnvFrom) != 0 {
		t.Fatalf("%s: envFrom %v: not resolved by this test", name, c.EnvFrom)
	}
	root := sharedDir(t)
	// Volumes: Secrets written out, the rest empty directories.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(tpl.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Fatalf("%s: mount %s has no volume", name, m.Name)
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if sv := tpl.Spec.Volumes[i].Secret; sv != nil {
			data := secret(t, s, sv.SecretName)
			items := sv.Items
			if items == nil {
				for k := range data {
					items = append(items, corev1.KeyToPath{Key: k, Path: k})
				}
			}
			for _, it := range items {
				v, ok := data[it.Key]
				if !ok {
					t.Fatalf("%s: Secret %s has no key %s", name, sv.SecretName, it.Key)
				}
				if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		mounts[m.MountPath] = dir
	}
	env := map[string]string{}
	var order []string
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			var ok bool
			if v, ok = secret(t, s, ref.Name)[ref.Key]; !ok {
				t.Fatalf("%s: %s: Secret %s has no key %s", name, e.Name, ref.Name, ref.Key)
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			v = name
		default:
			t.Fatalf("%s: %s: valueFrom %+v is not resolved by this test", name, e.Name, e.ValueFrom)
		}
		// A path in a mounted volume: the longest mount path it is under.
		best := ""
		for mp := range mounts {
			if strings.HasPrefix(v, mp+"/") && len(mp) > len(best) {
				best = mp
			}
		}
		if best != "" {
			v = filepath.Join(mounts[best], strings.TrimPrefix(v, best+"/"))
		}
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: %s set twice", name, e.Name)
		}
		env[e.Name] = v
		order = append(order, e.Name)
	}
	// The connection to Kafka: the stack's one plain broker.
	env["POSTPIPE_KAFKA_BROKERS"] = s.kafka
	env["POSTPIPE_KAFKA_REPLICATION"] = "-1"
	for _, n := range []string{"POSTPIPE_KAFKA_TLS", "POSTPIPE_KAFKA_TLS_CA_FILE", "POSTPIPE_KAFKA_TLS_CERT_FILE", "POSTPIPE_KAFKA_TLS_KEY_FILE",
		"POSTPIPE_KAFKA_SASL_MECHANISM", "POSTPIPE_KAFKA_SASL_USERNAME", "POSTPIPE_KAFKA_SASL_PASSWORD"} {
		delete(env, n)
	}
	for k, v := range override {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	var environ []string
	for _, k := range order {
		if v, ok := env[k]; ok {
			environ = append(environ, k+"="+v)
		}
	}

	p := &pod{name: name, c: c, logs: &syncBuffer{}, done: make(chan struct{})}
	p.ns, p.ip = l.newPodNet(t)
	args := []string{"netns", "exec", p.ns}
	if uid, gid := runAs(tpl, c); uid != nil {
		args = append(args, "setpriv", "--reuid", strconv.FormatInt(*uid, 10), "--regid", strconv.FormatInt(gid, 10), "--clear-groups", "--")
	}
	args = append(append(args, bin), c.Args...)
	p.cmd = exec.Command("ip", args...)
	p.cmd.Env = environ
	p.cmd.Dir = root
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		stop(p.cmd)
		<-p.done
		if t.Failed() {
			t.Logf("%s (%s) logs:\n%s", name, p.ip, p.logs.String())
		}
	})
	return p
}

func secret(t *testing.T, s *stack, name string) map[string]string {
	t.Helper()
	d, ok := s.secrets[name]
	if !ok {
		t.Fatalf("Secret %s: this test has no stand-in for it", name)
	}
	return d
}

// runAs is the user and group the container runs as (its own
// securityContext over the pod's).
func runAs(tpl *corev1.PodTemplateSpec, c *corev1.Container) (uid *int64, gid int64) {
	if psc := tpl.Spec.SecurityContext; psc != nil {
		uid = psc.RunAsUser
		if psc.RunAsGroup != nil {
			gid = *psc.RunAsGroup
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
	}
	return uid, gid
}

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	_, _ = cmd.Process.Wait()
	close(done)
}

func (p *pod) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// addr is the pod's address and the port a probe, monitor or Service
// names (a container port's name or number).
func (p *pod) addr(port string) string {
	n := containerPort(p.c, port)
	if n == 0 {
		if v, err := strconv.Atoi(port); err == nil {
			n = int32(v)
		}
	}
	return net.JoinHostPort(p.ip, strconv.Itoa(int(n)))
}

// probe runs the container's probes from the node as the kubelet does:
// the startup probe until it passes, within failureThreshold periods
// (at most a minute here), then the liveness probe once, then the
// readiness probe until the pod is ready (a minute).
func (p *pod) probe(t *testing.T) {
	for _, pr := range []struct {
		kind  string
		probe *corev1.Probe
		once  bool
	}{{"startup", p.c.StartupProbe, false}, {"liveness", p.c.LivenessProbe, true}, {"readiness", p.c.ReadinessProbe, false}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", p.name, pr.kind)
			continue
		}
		g := pr.probe.HTTPGet
		u := fmt.Sprintf("http://%s%s", p.addr(g.Port.String()), g.Path)
		// The kubelet's defaults: timeout 1 s, period 10 s, threshold 3.
		timeout, period, threshold := pr.probe.TimeoutSeconds, pr.probe.PeriodSeconds, pr.probe.FailureThreshold
		timeout, period, threshold = cmp.Or(timeout, 1), cmp.Or(period, 10), cmp.Or(threshold, 3)
		budget := min(time.Duration(threshold*period)*time.Second, time.Minute)
		if pr.kind == "readiness" {
			budget = time.Minute // an unready pod is only kept out of the Service, and probed on
		}
		deadline := time.Now().Add(budget)
		for {
			code, body, err := get(u, nil, time.Duration(timeout)*time.Second)
			if err == nil && code >= 200 && code < 400 {
				break
			}
			if pr.once || time.Now().After(deadline) || p.exited() {
				t.Errorf("%s: %s probe GET %s from the node: %d %v %q (exited: %v)", p.name, pr.kind, u, code, err, body, p.exited())
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

// scrapeMonitors GETs every endpoint of every monitor, on every pod it
// selects (through the Services a ServiceMonitor selects), from the node
// and without credentials, as the Prometheus Operator configures it.
func scrapeMonitors(t *testing.T, r rendered, pods map[string]*pod) {
	t.Helper()
	templates := map[string]*corev1.PodTemplateSpec{"api": &r.deployments[0].Spec.Template, "sink": &r.statefulSets[0].Spec.Template}
	type target struct{ component, port, path string }
	var targets []target
	for _, m := range r.monitors {
		sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case "PodMonitor":
			for comp, tpl := range templates {
				if sel.Matches(labels.Set(tpl.Labels)) {
					for _, e := range m.Spec.PodMetricsEndpoints {
						targets = append(targets, target{comp, e.Port, e.Path})
					}
				}
			}
		case "ServiceMonitor":
			for _, s := range r.services {
				if !sel.Matches(labels.Set(s.Labels)) {
					continue
				}
				for comp, tpl := range templates {
					if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(tpl.Labels)) {
						continue
					}
					for _, e := range m.Spec.Endpoints {
						i := slices.IndexFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == e.Port })
						if i < 0 {
							t.Errorf("ServiceMonitor endpoint port %s is not a port of Service %s", e.Port, s.Name)
							continue
						}
						targets = append(targets, target{comp, s.Spec.Ports[i].TargetPort.String(), e.Path})
					}
				}
			}
		}
	}
	scraped := map[string]bool{}
	for _, tg := range targets {
		u := fmt.Sprintf("http://%s%s", pods[tg.component].addr(tg.port), tg.path)
		code, body, err := get(u, nil, 10*time.Second)
		if err != nil || code != http.StatusOK || !strings.Contains(body, "postpipe_build_info") {
			t.Errorf("%s: scrape %s from the node without credentials: %d %v %.200q", tg.component, u, code, err, body)
		}
		scraped[tg.component] = true
	}
	if !scraped["api"] || !scraped["sink"] {
		t.Errorf("the monitors scrape %v, want api and sink", scraped)
	}
}

// runTestPods runs each helm test pod's script from the node, its
// API_URL (the API's Service) resolved to the API pod and its key from
// the stack's Secrets.
func runTestPods(t *testing.T, r rendered, s *stack, api *pod) {
	t.Helper()
	if len(r.pods) == 0 {
		t.Fatal("no helm test pod")
	}
	for _, tp := range r.pods {
		c := tp.Spec.Containers[0]
		environ := []string{"PATH=" + os.Getenv("PATH")} // the image's
		for _, e := range c.Env {
			v := e.Value
			switch {
			case e.Name == "API_URL":
				v = "http://" + serviceTarget(t, r, v, api)
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				v = secret(t, s, e.ValueFrom.SecretKeyRef.Name)[e.ValueFrom.SecretKeyRef.Key]
			case e.ValueFrom != nil:
				t.Fatalf("test pod %s: %s: valueFrom not resolved by this test", tp.Name, e.Name)
			}
			environ = append(environ, e.Name+"="+v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := exec.CommandContext(ctx, c.Command[0], append(c.Command[1:], c.Args...)...)
		cmd.Env = environ
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "read back") {
			t.Errorf("helm test pod %s: %v\n%s", tp.Name, err, out)
		} else {
			t.Logf("helm test pod %s: %s", tp.Name, strings.TrimSpace(string(out)))
		}
	}
}

// serviceTarget resolves http://<service>.<ns>.svc:<port> to the API pod's
// address through the Service's port and targetPort.
func serviceTarget(t *testing.T, r rendered, raw string, api *pod) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(u.Hostname(), ".")
	for _, s := range r.services {
		if s.Name != name {
			continue
		}
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(r.deployments[0].Spec.Template.Labels)) {
			t.Fatalf("Service %s does not select the API pods", name)
		}
		for _, p := range s.Spec.Ports {
			if strconv.Itoa(int(p.Port)) == u.Port() {
				return api.addr(p.TargetPort.String())
			}
		}
	}
	t.Fatalf("%s: no Service %s with port %s", raw, name, u.Port())
	return ""
}

// get is one GET from the node, on a fresh connection.
func get(u string, header http.Header, timeout time.Duration) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, string(b), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

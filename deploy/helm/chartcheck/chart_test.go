package chartcheck

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	chartDir       = "../postpipe"
	productionFile = "../values-production.yaml"
)

// Monitor mirrors the fields of the Prometheus Operator's ServiceMonitor
// and PodMonitor (monitoring.coreos.com/v1) that the chart uses; decoding
// is strict, so a misspelt or misplaced field fails as it would on a
// cluster with the CRDs.
type Monitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            MonitorSpec       `json:"spec"`
}

type MonitorSpec struct {
	Selector            metav1.LabelSelector `json:"selector"`
	TargetLabels        []string             `json:"targetLabels,omitempty"`
	PodTargetLabels     []string             `json:"podTargetLabels,omitempty"`
	Endpoints           []MonitorEndpoint    `json:"endpoints,omitempty"`
	PodMetricsEndpoints []MonitorEndpoint    `json:"podMetricsEndpoints,omitempty"`
}

type MonitorEndpoint struct {
	Port          string `json:"port"`
	Path          string `json:"path,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
}

// newObject returns the type an apiVersion/kind decodes into; any other
// kind in the chart is an error until it is added here.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "v1/Pod":
		return &corev1.Pod{}, true
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PodMonitor":
		return &Monitor{}, true
	}
	return nil, false
}

// decode decodes one YAML document strictly, as the API server does:
// field names are case-sensitive (encoding/json's are not, so
// yaml.UnmarshalStrict would take clusterIp for clusterIP), and unknown or
// duplicate fields fail.
func decode(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
		return nil, fmt.Errorf("type of object: %w", err)
	}
	obj, ok := newObject(tm.APIVersion, tm.Kind)
	if !ok {
		return nil, fmt.Errorf("unexpected object %s %s: add its type to newObject", tm.APIVersion, tm.Kind)
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err = errors.Join(append(strict, err)...); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

func helmBin(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h, err := filepath.Abs("../../../.tools/helm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h); err != nil {
		t.Fatalf("no helm at %s (make test-deploy installs it; or set HELM): %v", h, err)
	}
	return h
}

// render runs helm template with args and returns its documents.
func render(t *testing.T, args ...string) ([][]byte, error) {
	t.Helper()
	kube := os.Getenv("KUBE_VERSION")
	if kube == "" {
		kube = "1.31.0" // helm built with go install assumes 1.20; the chart needs 1.30+
	}
	cmd := exec.Command(helmBin(t), append([]string{"template", "pp", chartDir, "--namespace", "postpipe", "--kube-version", kube}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm template %v: %w: %s", args, err, stderr.String())
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(stdout.String(), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// rendered is a chart's objects by kind.
type rendered struct {
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	services     []*corev1.Service
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	pdbs         []*policyv1.PodDisruptionBudget
	monitors     []*Monitor
	netpols      []*networkingv1.NetworkPolicy
	pods         []*corev1.Pod // helm test hooks
	count        int
}

func renderAndDecode(t *testing.T, args ...string) rendered {
	t.Helper()
	docs, err := render(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	var r rendered
	for _, d := range docs {
		obj, err := decode(d)
		if err != nil {
			t.Fatalf("%v in:\n%s", err, d)
		}
		r.count++
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, o)
		case *appsv1.StatefulSet:
			r.statefulSets = append(r.statefulSets, o)
		case *corev1.Service:
			r.services = append(r.services, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpas = append(r.hpas, o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, o)
		case *Monitor:
			r.monitors = append(r.monitors, o)
		case *networkingv1.NetworkPolicy:
			r.netpols = append(r.netpols, o)
		case *corev1.Pod:
			r.pods = append(r.pods, o)
		}
	}
	return r
}

// variants render every branch of the templates: the defaults, the
// production-like file, and the options neither turns on.
var variants = []struct {
	name string
	args []string
	// want: API replicas (fixed or HPA minimum), sink members, monitor kind ("" none).
	apiReplicas, sinkReplicas int32
	monitor                   string
	// want: NetworkPolicies rendered, helm test pods rendered.
	netpols, tests bool
}{
	{"defaults", nil, 2, 2, "", false, true},
	{"production", []string{"-f", productionFile}, 3, 3, "PodMonitor", true, true},
	{"service monitor, fixed replicas, mutual TLS, no tests", []string{
		"--set", "metrics.serviceMonitor.enabled=true,api.autoscaling.enabled=false,api.replicas=4,sink.replicas=1",
		"--set", "kafka.tls.enabled=true,kafka.tls.caSecret=ca,kafka.tls.clientCertSecret=client,apiKeys.existingSecret=keys",
		"--set", "api.podDisruptionBudget.enabled=false,api.preStopSleepSeconds=0,tests.enabled=false",
	}, 4, 1, "ServiceMonitor", false, false},
	{"extra env, network policy open to all, no spread", []string{
		"--set", "extraEnv[0].name=OTEL_EXPORTER_OTLP_ENDPOINT,extraEnv[0].value=http://otel-collector:4318",
		"--set", "api.extraEnv[0].name=OTEL_SERVICE_NAME,api.extraEnv[0].value=postpipe-api",
		"--set", "sink.extraEnv[0].name=POSTPIPE_SINK_WRITERS,sink.extraEnv[0].valueFrom.configMapKeyRef.name=tuning,sink.extraEnv[0].valueFrom.configMapKeyRef.key=writers",
		"--set", "extraEnvFrom[0].secretRef.name=otel-headers,sink.extraEnvFrom[0].configMapRef.name=sink-extra",
		"--set", "networkPolicy.enabled=true,api.topologySpreadConstraints=null,sink.topologySpreadConstraints=null",
	}, 2, 2, "", true, true},
}

func TestChartDecodesStrictly(t *testing.T) {
	known := settings(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			r := renderAndDecode(t, v.args...)
			if len(r.deployments) != 1 || len(r.statefulSets) != 1 {
				t.Fatalf("%d Deployments and %d StatefulSets, want one API Deployment and one sink StatefulSet",
					len(r.deployments), len(r.statefulSets))
			}
			api, sink := r.deployments[0], r.statefulSets[0]
			checkPod(t, "api", &api.Spec.Template, "http", known["api"])
			checkPod(t, "sink", &sink.Spec.Template, "admin", known["sink"])
			checkSink(t, sink)
			checkSpread(t, api, sink)

			replicas := int32(-1)
			if api.Spec.Replicas != nil {
				replicas = *api.Spec.Replicas
			}
			if len(r.hpas) == 1 {
				h := r.hpas[0]
				if api.Spec.Replicas != nil || h.Spec.ScaleTargetRef.Name != api.Name || h.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("HPA targets %s %s and the Deployment sets replicas %v: want the HPA alone to size %s",
						h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, api.Spec.Replicas, api.Name)
				}
				replicas = *h.Spec.MinReplicas
			}
			if replicas != v.apiReplicas || *sink.Spec.Replicas != v.sinkReplicas {
				t.Errorf("API replicas %d, sink members %d; want %d and %d", replicas, *sink.Spec.Replicas, v.apiReplicas, v.sinkReplicas)
			}
			checkPDBs(t, r)
			checkServices(t, r, api, sink)
			checkMonitors(t, r, v.monitor, api, sink)
			checkNetworkPolicies(t, r, v.netpols, api, sink)
			checkTests(t, r, v.tests, api)
		})
	}
}

func checkPod(t *testing.T, name string, pod *corev1.PodTemplateSpec, probePort string, known []string) {
	t.Helper()
	spec := pod.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", name, psc)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; postpipe does not use the Kubernetes API", name)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", name, len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile == nil ||
		sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container securityContext %+v: want non-root, read-only root, no privilege escalation, drop ALL, RuntimeDefault", name, sc)
	}
	for probe, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if probe == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != probePort {
			t.Errorf("%s: %s probe %+v, want GET %s on port %s", name, probe, p, want, probePort)
		}
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	if !ports[probePort] || !ports["admin"] {
		t.Errorf("%s: container ports %v, want %s and admin", name, c.Ports, probePort)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v: want a CPU request and a memory limit", name, c.Resources)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: %s set twice", name, e.Name)
		}
		env[e.Name] = e
		if strings.HasPrefix(e.Name, "POSTPIPE_") && !slices.Contains(known, e.Name) {
			t.Errorf("%s: %s is no setting of postpipe %s (docs/configuration.md)", name, e.Name, name)
		}
	}
	for _, must := range []string{"POSTPIPE_KAFKA_BROKERS", "POSTPIPE_MONGODB_URI", "POSTPIPE_ADMIN_ADDR"} {
		if _, ok := env[must]; !ok {
			t.Errorf("%s: %s not set: postpipe would start an embedded dependency or serve no probes", name, must)
		}
	}
	// The admin listener must take connections from the kubelet and
	// Prometheus, which come from outside the pod: a port alone (":9090")
	// would listen on the pod's loopback only.
	containerPort := func(n string) int32 {
		i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == n })
		if i < 0 {
			return -1
		}
		return c.Ports[i].ContainerPort
	}
	if host, port, err := net.SplitHostPort(env["POSTPIPE_ADMIN_ADDR"].Value); err != nil || (host != "0.0.0.0" && host != "::") ||
		port != strconv.Itoa(int(containerPort("admin"))) {
		t.Errorf("%s: POSTPIPE_ADMIN_ADDR=%q, want every interface (0.0.0.0) on the admin port %d", name, env["POSTPIPE_ADMIN_ADDR"].Value, containerPort("admin"))
	}
	if e, ok := env["POSTPIPE_HTTP_ADDR"]; ok {
		if _, port, err := net.SplitHostPort(e.Value); err != nil || port != strconv.Itoa(int(containerPort("http"))) {
			t.Errorf("%s: POSTPIPE_HTTP_ADDR=%q is not the http port %d", name, e.Value, containerPort("http"))
		}
	}
	if pod.Annotations["checksum/secrets"] == "" {
		t.Errorf("%s: no checksum/secrets annotation: a changed Secret would not roll the pods", name)
	}
	// Secrets are referenced, never written into the manifest.
	for _, secret := range []string{"POSTPIPE_MONGODB_URI", "POSTPIPE_KAFKA_SASL_USERNAME", "POSTPIPE_KAFKA_SASL_PASSWORD"} {
		if e, ok := env[secret]; ok && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: %s is not a Secret reference: %+v", name, secret, e)
		}
	}
	// Every file setting points into a mounted volume.
	mounts := c.VolumeMounts
	for n, e := range env {
		if !strings.HasSuffix(n, "_FILE") {
			continue
		}
		if !slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool { return strings.HasPrefix(e.Value, m.MountPath+"/") }) {
			t.Errorf("%s: %s=%s is in no mounted volume %v", name, n, e.Value, mounts)
		}
	}
	for _, m := range mounts {
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
			t.Errorf("%s: volume mount %s has no volume", name, m.Name)
		}
	}
}

func checkSink(t *testing.T, sink *appsv1.StatefulSet) {
	t.Helper()
	c := sink.Spec.Template.Spec.Containers[0]
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POSTPIPE_KAFKA_INSTANCE_ID" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("sink: POSTPIPE_KAFKA_INSTANCE_ID must come from the pod name (static membership), got %+v", c.Env)
	}
	if !slices.Equal(c.Args, []string{"sink"}) {
		t.Errorf("sink: args %v, want [sink]", c.Args)
	}
}

// checkSpread: every spread constraint counts the pods of its own
// component of this release only (the instance label keeps two releases
// in one namespace apart).
func checkSpread(t *testing.T, api *appsv1.Deployment, sink *appsv1.StatefulSet) {
	t.Helper()
	pods := map[string]*corev1.PodTemplateSpec{"api": &api.Spec.Template, "sink": &sink.Spec.Template}
	for name, pod := range pods {
		for _, c := range pod.Spec.TopologySpreadConstraints {
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil || c.LabelSelector == nil {
				t.Errorf("%s: spread over %s has no usable labelSelector (%v)", name, c.TopologyKey, err)
				continue
			}
			if c.LabelSelector.MatchLabels["app.kubernetes.io/instance"] == "" {
				t.Errorf("%s: spread over %s ignores the instance label: it counts other releases' pods", name, c.TopologyKey)
			}
			for other, p := range pods {
				if sel.Matches(labels.Set(p.Labels)) != (other == name) {
					t.Errorf("%s: spread over %s selects the %s pods: %v", name, c.TopologyKey, other, sel.Matches(labels.Set(p.Labels)))
				}
			}
			other := labels.Set(maps.Clone(pod.Labels))
			other["app.kubernetes.io/instance"] = "another-release"
			if sel.Matches(other) {
				t.Errorf("%s: spread over %s also counts another release's pods", name, c.TopologyKey)
			}
		}
	}
}

// checkNetworkPolicies: with networkPolicy on, one policy per component
// selects its pods and admits only ports the pod names.
func checkNetworkPolicies(t *testing.T, r rendered, want bool, api *appsv1.Deployment, sink *appsv1.StatefulSet) {
	t.Helper()
	if !want {
		if len(r.netpols) != 0 {
			t.Errorf("%d NetworkPolicies, want none", len(r.netpols))
		}
		return
	}
	if len(r.netpols) != 2 {
		t.Fatalf("%d NetworkPolicies, want one per component", len(r.netpols))
	}
	for _, np := range r.netpols {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			t.Fatal(err)
		}
		var pod *corev1.PodTemplateSpec
		for _, p := range []*corev1.PodTemplateSpec{&api.Spec.Template, &sink.Spec.Template} {
			if sel.Matches(labels.Set(p.Labels)) {
				if pod != nil {
					t.Errorf("NetworkPolicy %s selects both components", np.Name)
				}
				pod = p
			}
		}
		if pod == nil {
			t.Errorf("NetworkPolicy %s selects no pods", np.Name)
			continue
		}
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port == nil || !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.Port.String() }) {
					t.Errorf("NetworkPolicy %s admits port %v, which the pod does not name", np.Name, p.Port)
				}
			}
		}
	}
}

// checkTests: the helm test pod posts through the API's Service, with a
// key when keys are on.
func checkTests(t *testing.T, r rendered, want bool, api *appsv1.Deployment) {
	t.Helper()
	if !want {
		if len(r.pods) != 0 {
			t.Errorf("%d test pods, want none", len(r.pods))
		}
		return
	}
	if len(r.pods) != 1 {
		t.Fatalf("%d test pods, want 1", len(r.pods))
	}
	p := r.pods[0]
	if p.Annotations["helm.sh/hook"] != "test" || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod %s: hook %q, restartPolicy %q; want a helm test that runs once", p.Name, p.Annotations["helm.sh/hook"], p.Spec.RestartPolicy)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range p.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	svc := slices.IndexFunc(r.services, func(s *corev1.Service) bool {
		return s.Spec.ClusterIP != "None" && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(api.Spec.Template.Labels))
	})
	if svc < 0 {
		t.Fatal("no API Service")
	}
	s := r.services[svc]
	if want := fmt.Sprintf("http://%s.%s.svc:%d", s.Name, "postpipe", s.Spec.Ports[0].Port); env["API_URL"].Value != want {
		t.Errorf("test pod API_URL=%q, want %q", env["API_URL"].Value, want)
	}
	keys := slices.ContainsFunc(api.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "POSTPIPE_API_KEYS_FILE" })
	if k, ok := env["API_KEY"]; ok != keys || (ok && (k.ValueFrom == nil || k.ValueFrom.SecretKeyRef == nil)) {
		t.Errorf("test pod API_KEY %+v with keys %v: want a Secret reference exactly when keys are on", k, keys)
	}
}

func checkPDBs(t *testing.T, r rendered) {
	t.Helper()
	for _, p := range r.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range r.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				n++
			}
		}
		for _, s := range r.statefulSets {
			if sel.Matches(labels.Set(s.Spec.Template.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("PDB %s selects the pods of %d workloads, want 1", p.Name, n)
		}
	}
}

func checkServices(t *testing.T, r rendered, api *appsv1.Deployment, sink *appsv1.StatefulSet) {
	t.Helper()
	if !slices.ContainsFunc(r.services, func(s *corev1.Service) bool { return s.Name == sink.Spec.ServiceName && s.Spec.ClusterIP == "None" }) {
		t.Errorf("no headless Service %q governs the sink StatefulSet", sink.Spec.ServiceName)
	}
	for _, s := range r.services {
		sel := labels.SelectorFromSet(s.Spec.Selector)
		var pod *corev1.PodTemplateSpec
		switch {
		case sel.Matches(labels.Set(api.Spec.Template.Labels)):
			pod = &api.Spec.Template
		case sel.Matches(labels.Set(sink.Spec.Template.Labels)):
			pod = &sink.Spec.Template
		default:
			t.Errorf("Service %s selects no pods", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if !slices.ContainsFunc(pod.Spec.Containers[0].Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.String() }) {
				t.Errorf("Service %s port %s targets %s, which the pod does not name", s.Name, p.Name, p.TargetPort.String())
			}
			if s.Spec.ClusterIP != "None" && p.TargetPort.String() == "admin" {
				t.Errorf("Service %s exposes the admin listener (pprof) on a cluster IP", s.Name)
			}
		}
	}
}

func checkMonitors(t *testing.T, r rendered, want string, api *appsv1.Deployment, sink *appsv1.StatefulSet) {
	t.Helper()
	if want == "" {
		if len(r.monitors) != 0 {
			t.Errorf("%d monitors rendered, want none", len(r.monitors))
		}
		return
	}
	if len(r.monitors) != 1 || r.monitors[0].Kind != want {
		t.Fatalf("monitors %v, want one %s", r.monitors, want)
	}
	m := r.monitors[0]
	sel, err := metav1.LabelSelectorAsSelector(&m.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	endpoints := m.Spec.PodMetricsEndpoints
	// What the monitor scrapes: pods (PodMonitor) or Services (ServiceMonitor); both components must be.
	var scraped []string
	if want == "PodMonitor" {
		for name, pod := range map[string]*corev1.PodTemplateSpec{"api": &api.Spec.Template, "sink": &sink.Spec.Template} {
			if sel.Matches(labels.Set(pod.Labels)) {
				scraped = append(scraped, name)
			}
		}
	} else {
		endpoints = m.Spec.Endpoints
		for _, s := range r.services {
			if sel.Matches(labels.Set(s.Labels)) && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "admin" }) {
				scraped = append(scraped, s.Spec.Selector["app.kubernetes.io/component"])
			}
		}
	}
	slices.Sort(scraped)
	if !slices.Equal(scraped, []string{"api", "sink"}) {
		t.Errorf("%s scrapes %v, want api and sink", want, scraped)
	}
	if len(endpoints) != 1 || endpoints[0].Port != "admin" || endpoints[0].Path != "/metrics" {
		t.Errorf("%s endpoints %+v, want /metrics on port admin", want, endpoints)
	}
}

// TestChartRefuses: values that would run postpipe wrongly fail to render,
// with a message saying why: the templates' checks, and values.schema.json.
func TestChartRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no brokers", []string{"--set", "kafka.brokers=null"}, []string{"kafka.brokers is required"}},
		{"no MongoDB secret", []string{"--set", "mongodb.existingSecret="}, []string{"mongodb.existingSecret is required"}},
		{"SASL without a secret", []string{"--set", "kafka.sasl.mechanism=PLAIN"}, []string{"kafka.sasl.existingSecret is required"}},
		{"TLS files without TLS", []string{"--set", "kafka.tls.caSecret=ca"}, []string{"need kafka.tls.enabled=true"}},
		{"both monitors", []string{"--set", "metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true"}, []string{"enable one"}},
		// values.schema.json: the config keys are postpipe's settings.
		{"not a setting", []string{"--set", "config.LOG_LEVEL=debug"}, []string{"at '/config'", "'LOG_LEVEL' not allowed"}},
		{"misspelt setting", []string{"--set", "config.POSTPIPE_KAFKA_BROKER=kafka:9092"}, []string{"at '/config'", "'POSTPIPE_KAFKA_BROKER' not allowed"}},
		{"setting of the other component", []string{"--set", "api.config.POSTPIPE_SINK_BATCH_SIZE=100"}, []string{"at '/api/config'", "'POSTPIPE_SINK_BATCH_SIZE' not allowed"}},
		{"misspelt value", []string{"--set", "api.replica=7"}, []string{"at '/api'", "'replica' not allowed"}},
		{"value of the wrong type", []string{"--set", "kafka.partitions=many"}, []string{"at '/kafka/partitions'"}},
		{"extraEnv: not a setting", []string{"--set", "extraEnv[0].name=POSTPIPE_NOPE,extraEnv[0].value=1"}, []string{"at '/extraEnv/0/name'", "value must be one of"}},
		// One variable, set once.
		{"config sets what the chart sets", []string{"--set-string", "api.config.POSTPIPE_ADMIN_ADDR=0.0.0.0:9090"},
			[]string{"config key POSTPIPE_ADMIN_ADDR: the chart sets it from adminPort"}},
		{"config sets the brokers", []string{"--set", "config.POSTPIPE_KAFKA_BROKERS=x:9092"}, []string{"the chart sets it from kafka.brokers"}},
		{"extraEnv sets what the chart sets", []string{"--set", "sink.extraEnv[0].name=POSTPIPE_KAFKA_INSTANCE_ID,sink.extraEnv[0].value=x"},
			[]string{"extraEnv POSTPIPE_KAFKA_INSTANCE_ID: the chart sets it"}},
		{"extraEnv sets what config sets", []string{"--set", "extraEnv[0].name=POSTPIPE_LOG_FORMAT,extraEnv[0].value=text"},
			[]string{"extraEnv POSTPIPE_LOG_FORMAT: also set under config"}},
		{"extraEnv twice", []string{"--set", "api.extraEnv[0].name=OTEL_SERVICE_NAME,api.extraEnv[1].name=OTEL_SERVICE_NAME"}, []string{"listed twice"}},
		{"keys without a test key", []string{"--set", "apiKeys.existingSecret=keys"}, []string{"tests.apiKey.existingSecret is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, tt.args...)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("helm template %v: %v, want an error saying %q", tt.args, err, w)
				}
			}
		})
	}
}

// TestChartAccepts: what the schema and the checks must let through, each
// variable set once, the component's value winning.
func TestChartAccepts(t *testing.T) {
	for _, tt := range []struct {
		set  string
		want map[string]string // component/variable: value
	}{
		{"config.POSTPIPE_SINK_BATCH_SIZE=100", map[string]string{"sink/POSTPIPE_SINK_BATCH_SIZE": "100"}}, // for both: the API ignores it
		{"extraEnv[0].name=POSTPIPE_RATE_LIMIT,extraEnv[0].valueFrom.configMapKeyRef.name=limits,extraEnv[0].valueFrom.configMapKeyRef.key=rate",
			map[string]string{"api/POSTPIPE_RATE_LIMIT": ""}},
		{"sink.extraEnv[0].name=GOMEMLIMIT,sink.extraEnv[0].value=400MiB", map[string]string{"sink/GOMEMLIMIT": "400MiB"}},
		{"extraEnv[0].name=OTEL_SERVICE_NAME,extraEnv[0].value=pp,api.extraEnv[0].name=OTEL_SERVICE_NAME,api.extraEnv[0].value=pp-api",
			map[string]string{"api/OTEL_SERVICE_NAME": "pp-api", "sink/OTEL_SERVICE_NAME": "pp"}},
		{"api.config.POSTPIPE_RATE_LIMIT=5,config.POSTPIPE_RATE_LIMIT=7", map[string]string{"api/POSTPIPE_RATE_LIMIT": "5", "sink/POSTPIPE_RATE_LIMIT": "7"}},
		{"apiKeys.existingSecret=keys,tests.enabled=false", map[string]string{"sink/POSTPIPE_API_KEYS_FILE": "/etc/postpipe/api-keys/keys"}},
	} {
		r := renderAndDecode(t, "--set", tt.set)
		got := map[string]string{}
		for _, c := range []corev1.Container{r.deployments[0].Spec.Template.Spec.Containers[0], r.statefulSets[0].Spec.Template.Spec.Containers[0]} {
			for _, e := range c.Env {
				if _, dup := got[c.Name+"/"+e.Name]; dup {
					t.Errorf("--set %s: %s: %s set twice", tt.set, c.Name, e.Name)
				}
				got[c.Name+"/"+e.Name] = e.Value
			}
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("--set %s: %s=%q, want %q", tt.set, k, got[k], v)
			}
		}
	}
}

// TestDecodeIsStrict: the decoder this test relies on rejects what a
// cluster would (so a pass above means something).
func TestDecodeIsStrict(t *testing.T) {
	tests := []struct{ name, doc string }{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIpAddress: x}\n"},
		{"field in the wrong case", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIp: None}\n"},
		{"field at the wrong level", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nmaxUnavailable: 1\n"},
		{"unknown monitor field", "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: x}\nspec: {selector: {}, podMetricEndpoints: []}\n"},
		{"unknown kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
		{"duplicate field", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decode([]byte(tt.doc)); err == nil {
				t.Errorf("decoded without error:\n%s", tt.doc)
			}
		})
	}
}

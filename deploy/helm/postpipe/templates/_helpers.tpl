{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "postpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; the component suffixes need room, so 52. */}}
{{- define "postpipe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "postpipe.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "postpipe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "postpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postpipe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "postpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "postpipe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "postpipe.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
postpipe.env: the environment of a component's container, a YAML list.
Secrets are referenced, never rendered. The chart's own variables come
first, then config (POSTPIPE_* settings), then extraEnv; a name is set
once: a config key or extraEnv entry the chart already sets fails with
the value to use instead. Takes (dict "root" $ "component" "api"|"sink").
*/}}
{{- define "postpipe.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $component := .component }}
{{- $c := index $v $component }}
{{- if not $v.kafka.brokers }}
{{- fail "kafka.brokers is required: without brokers postpipe starts an embedded broker in each pod" }}
{{- end }}
{{- $secret := required "mongodb.existingSecret is required: the Secret holding the MongoDB URI (without one postpipe starts an embedded store in each pod)" $v.mongodb.existingSecret }}
{{- /* Every variable the chart sets, always reserved, with the value that sets it. */}}
{{- $managed := dict
  "POSTPIPE_KAFKA_BROKERS" "kafka.brokers"
  "POSTPIPE_KAFKA_TOPIC" "kafka.topic"
  "POSTPIPE_KAFKA_DLQ_TOPIC" "kafka.dlqTopic"
  "POSTPIPE_KAFKA_GROUP" "kafka.group"
  "POSTPIPE_KAFKA_PARTITIONS" "kafka.partitions"
  "POSTPIPE_KAFKA_REPLICATION" "kafka.replication"
  "POSTPIPE_KAFKA_TLS" "kafka.tls.enabled"
  "POSTPIPE_KAFKA_TLS_CA_FILE" "kafka.tls.caSecret"
  "POSTPIPE_KAFKA_TLS_CERT_FILE" "kafka.tls.clientCertSecret"
  "POSTPIPE_KAFKA_TLS_KEY_FILE" "kafka.tls.clientCertSecret"
  "POSTPIPE_KAFKA_SASL_MECHANISM" "kafka.sasl.mechanism"
  "POSTPIPE_KAFKA_SASL_USERNAME" "kafka.sasl.existingSecret"
  "POSTPIPE_KAFKA_SASL_PASSWORD" "kafka.sasl.existingSecret"
  "POSTPIPE_MONGODB_URI" "mongodb.existingSecret"
  "POSTPIPE_MONGODB_DATABASE" "mongodb.database"
  "POSTPIPE_MONGODB_COLLECTION" "mongodb.collection"
  "POSTPIPE_ADMIN_ADDR" "adminPort"
  "POSTPIPE_HTTP_ADDR" "api.port"
  "POSTPIPE_API_KEYS_FILE" "apiKeys.existingSecret"
  "POSTPIPE_KAFKA_INSTANCE_ID" "the sink's pod name"
}}
{{- $env := list
  (dict "name" "POSTPIPE_KAFKA_BROKERS" "value" (join "," $v.kafka.brokers))
  (dict "name" "POSTPIPE_KAFKA_TOPIC" "value" (toString $v.kafka.topic))
  (dict "name" "POSTPIPE_KAFKA_DLQ_TOPIC" "value" (toString $v.kafka.dlqTopic))
  (dict "name" "POSTPIPE_KAFKA_GROUP" "value" (toString $v.kafka.group))
  (dict "name" "POSTPIPE_KAFKA_PARTITIONS" "value" (toString $v.kafka.partitions))
  (dict "name" "POSTPIPE_KAFKA_REPLICATION" "value" (toString $v.kafka.replication))
  (dict "name" "POSTPIPE_MONGODB_URI" "valueFrom" (dict "secretKeyRef" (dict "name" $secret "key" $v.mongodb.uriKey)))
  (dict "name" "POSTPIPE_MONGODB_DATABASE" "value" (toString $v.mongodb.database))
  (dict "name" "POSTPIPE_MONGODB_COLLECTION" "value" (toString $v.mongodb.collection))
  (dict "name" "POSTPIPE_ADMIN_ADDR" "value" (printf "0.0.0.0:%v" $v.adminPort))
}}
{{- if $v.kafka.tls.enabled }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_TLS" "value" "true") }}
{{- if $v.kafka.tls.caSecret }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_TLS_CA_FILE" "value" (printf "/etc/postpipe/kafka-ca/%s" $v.kafka.tls.caKey)) }}
{{- end }}
{{- if $v.kafka.tls.clientCertSecret }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_TLS_CERT_FILE" "value" "/etc/postpipe/kafka-client/tls.crt") }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_TLS_KEY_FILE" "value" "/etc/postpipe/kafka-client/tls.key") }}
{{- end }}
{{- else if or $v.kafka.tls.caSecret $v.kafka.tls.clientCertSecret }}
{{- fail "kafka.tls.caSecret and kafka.tls.clientCertSecret need kafka.tls.enabled=true" }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
{{- $sasl := required "kafka.sasl.existingSecret is required when kafka.sasl.mechanism is set" $v.kafka.sasl.existingSecret }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_SASL_MECHANISM" "value" $v.kafka.sasl.mechanism) }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_SASL_USERNAME" "valueFrom" (dict "secretKeyRef" (dict "name" $sasl "key" $v.kafka.sasl.usernameKey))) }}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_SASL_PASSWORD" "valueFrom" (dict "secretKeyRef" (dict "name" $sasl "key" $v.kafka.sasl.passwordKey))) }}
{{- end }}
{{- if eq $component "api" }}
{{- $env = append $env (dict "name" "POSTPIPE_HTTP_ADDR" "value" (printf ":%v" $v.api.port)) }}
{{- else }}
{{- /* Static group membership: the StatefulSet's stable pod name. */}}
{{- $env = append $env (dict "name" "POSTPIPE_KAFKA_INSTANCE_ID" "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name"))) }}
{{- end }}
{{- if $v.apiKeys.existingSecret }}
{{- $env = append $env (dict "name" "POSTPIPE_API_KEYS_FILE" "value" "/etc/postpipe/api-keys/keys") }}
{{- end }}
{{- $config := merge (deepCopy ($c.config | default dict)) (deepCopy ($v.config | default dict)) }}
{{- range $name := keys $config | sortAlpha }}
{{- if not (hasPrefix "POSTPIPE_" $name) }}
{{- fail (printf "config key %q: only POSTPIPE_* settings belong under config; put other variables in extraEnv" $name) }}
{{- end }}
{{- if hasKey $managed $name }}
{{- fail (printf "config key %s: the chart sets it from %s; set that value instead" $name (get $managed $name)) }}
{{- end }}
{{- $env = append $env (dict "name" $name "value" (toString (get $config $name))) }}
{{- end }}
{{- /* extraEnv: the component's entries win over the shared ones of the same name. */}}
{{- $own := dict }}
{{- range ($c.extraEnv | default list) }}
{{- $_ := set $own .name true }}
{{- end }}
{{- $extra := list }}
{{- range ($v.extraEnv | default list) }}
{{- if not (hasKey $own .name) }}
{{- $extra = append $extra . }}
{{- end }}
{{- end }}
{{- $seen := dict }}
{{- range (concat $extra ($c.extraEnv | default list)) }}
{{- if hasKey $managed .name }}
{{- fail (printf "extraEnv %s: the chart sets it from %s; set that value instead" .name (get $managed .name)) }}
{{- end }}
{{- if hasKey $config .name }}
{{- fail (printf "extraEnv %s: also set under config; set it in one place" .name) }}
{{- end }}
{{- if hasKey $seen .name }}
{{- fail (printf "%s.extraEnv %s: listed twice" $component .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $env = append $env . }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/* postpipe.envFrom: extraEnvFrom, shared then the component's. */}}
{{- define "postpipe.envFrom" -}}
{{- $from := concat (.root.Values.extraEnvFrom | default list) ((index .root.Values .component).extraEnvFrom | default list) }}
{{- if $from }}
{{- toYaml $from }}
{{- end }}
{{- end }}

{{/*
postpipe.secretsChecksum: a checksum of the Secrets a component reads (the
keys file, the MongoDB URI, Kafka's SASL and TLS), so that a changed Secret
rolls the pods at the next helm upgrade. The chart does not own them: their
content is read with lookup, which helm template and --dry-run do not do
(the checksum is then of nothing). Each Secret's data is hashed with its
uid, so the annotation gives no plain hash of a low-entropy password.
*/}}
{{- define "postpipe.secretsChecksum" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $names := list $v.mongodb.existingSecret $v.apiKeys.existingSecret }}
{{- if $v.kafka.sasl.mechanism }}
{{- $names = append $names $v.kafka.sasl.existingSecret }}
{{- end }}
{{- if $v.kafka.tls.enabled }}
{{- $names = concat $names (list $v.kafka.tls.caSecret $v.kafka.tls.clientCertSecret) }}
{{- end }}
{{- $sums := list }}
{{- range $name := $names | compact | uniq | sortAlpha }}
{{- $s := lookup "v1" "Secret" $root.Release.Namespace $name }}
{{- $sums = append $sums (printf "%s:%s" $name (printf "%s/%s" (dig "metadata" "uid" "" $s) (dig "data" dict $s | toJson) | sha256sum)) }}
{{- end }}
{{- join "," $sums | sha256sum }}
{{- end }}

{{/*
postpipe.topologySpread: the component's topologySpreadConstraints; an
entry without a labelSelector gets the release's pods of that component
(the instance label keeps two releases apart), and the API's entries
matchLabelKeys [pod-template-hash] unless they say otherwise.
*/}}
{{- define "postpipe.topologySpread" -}}
{{- $root := .root }}
{{- $selector := merge (include "postpipe.selectorLabels" $root | fromYaml) (dict "app.kubernetes.io/component" .component) }}
{{- $out := list }}
{{- range ((index $root.Values .component).topologySpreadConstraints | default list) }}
{{- $tsc := deepCopy . }}
{{- if not (hasKey $tsc "labelSelector") }}
{{- $_ := set $tsc "labelSelector" (dict "matchLabels" $selector) }}
{{- if and (eq $.component "api") (not (hasKey $tsc "matchLabelKeys")) }}
{{- $_ := set $tsc "matchLabelKeys" (list "pod-template-hash") }}
{{- end }}
{{- end }}
{{- $out = append $out $tsc }}
{{- end }}
{{- if $out }}
{{- toYaml $out }}
{{- end }}
{{- end }}

{{/* Volumes for the Secrets mounted as files (the API keys, Kafka's CA
and client certificate), and a writable /tmp. */}}
{{- define "postpipe.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.apiKeys.existingSecret }}
- name: api-keys
  secret:
    secretName: {{ .Values.apiKeys.existingSecret | quote }}
    items:
      - key: {{ .Values.apiKeys.key | quote }}
        path: keys
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret | quote }}
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientCertSecret | quote }}
{{- end }}
{{- end }}

{{- define "postpipe.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.apiKeys.existingSecret }}
- name: api-keys
  mountPath: /etc/postpipe/api-keys
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/postpipe/kafka-ca
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  mountPath: /etc/postpipe/kafka-client
  readOnly: true
{{- end }}
{{- end }}

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
postpipe.env: the environment of both components. Secrets are referenced,
never rendered. Takes (dict "root" $ "component" "api"|"sink").
*/}}
{{- define "postpipe.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- if not $v.kafka.brokers }}
{{- fail "kafka.brokers is required: without brokers postpipe starts an embedded broker in each pod" }}
{{- end }}
- name: POSTPIPE_KAFKA_BROKERS
  value: {{ join "," $v.kafka.brokers | quote }}
- name: POSTPIPE_KAFKA_TOPIC
  value: {{ $v.kafka.topic | quote }}
- name: POSTPIPE_KAFKA_DLQ_TOPIC
  value: {{ $v.kafka.dlqTopic | quote }}
- name: POSTPIPE_KAFKA_GROUP
  value: {{ $v.kafka.group | quote }}
- name: POSTPIPE_KAFKA_PARTITIONS
  value: {{ $v.kafka.partitions | quote }}
- name: POSTPIPE_KAFKA_REPLICATION
  value: {{ $v.kafka.replication | quote }}
- name: POSTPIPE_MONGODB_URI
  valueFrom:
    secretKeyRef:
      name: {{ required "mongodb.existingSecret is required: the Secret holding the MongoDB URI (without one postpipe starts an embedded store in each pod)" $v.mongodb.existingSecret | quote }}
      key: {{ $v.mongodb.uriKey | quote }}
- name: POSTPIPE_MONGODB_DATABASE
  value: {{ $v.mongodb.database | quote }}
- name: POSTPIPE_MONGODB_COLLECTION
  value: {{ $v.mongodb.collection | quote }}
- name: POSTPIPE_ADMIN_ADDR
  value: {{ printf ":%v" $v.adminPort | quote }}
{{- if $v.kafka.tls.enabled }}
- name: POSTPIPE_KAFKA_TLS
  value: "true"
{{- if $v.kafka.tls.caSecret }}
- name: POSTPIPE_KAFKA_TLS_CA_FILE
  value: {{ printf "/etc/postpipe/kafka-ca/%s" $v.kafka.tls.caKey | quote }}
{{- end }}
{{- if $v.kafka.tls.clientCertSecret }}
- name: POSTPIPE_KAFKA_TLS_CERT_FILE
  value: /etc/postpipe/kafka-client/tls.crt
- name: POSTPIPE_KAFKA_TLS_KEY_FILE
  value: /etc/postpipe/kafka-client/tls.key
{{- end }}
{{- else if or $v.kafka.tls.caSecret $v.kafka.tls.clientCertSecret }}
{{- fail "kafka.tls.caSecret and kafka.tls.clientCertSecret need kafka.tls.enabled=true" }}
{{- end }}
{{- if $v.kafka.sasl.mechanism }}
- name: POSTPIPE_KAFKA_SASL_MECHANISM
  value: {{ $v.kafka.sasl.mechanism | quote }}
- name: POSTPIPE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required when kafka.sasl.mechanism is set" $v.kafka.sasl.existingSecret | quote }}
      key: {{ $v.kafka.sasl.usernameKey | quote }}
- name: POSTPIPE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret | quote }}
      key: {{ $v.kafka.sasl.passwordKey | quote }}
{{- end }}
{{- $config := merge (deepCopy (index $v .component).config) (deepCopy $v.config) }}
{{- range $name := keys $config | sortAlpha }}
{{- if not (hasPrefix "POSTPIPE_" $name) }}
{{- fail (printf "config key %q: only POSTPIPE_* settings belong under config" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ index $config $name | toString | quote }}
{{- end }}
{{- end }}

{{/* Volumes for the Secrets mounted as files, and a writable /tmp. */}}
{{- define "postpipe.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
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

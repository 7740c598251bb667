{{/* Names, labels and the environment every service shares. */}}

{{- define "rgw.name" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rgw.labels" -}}
app.kubernetes.io/part-of: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one service's pods; call with (dict "root" $ "service" "api"). */}}
{{- define "rgw.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/name: {{ .service }}
{{- end -}}

{{- define "rgw.natsHost" -}}
{{- .Values.natsHost | default (printf "%s-nats" .Release.Name) -}}
{{- end -}}

{{/* The operator writes `<resource>-<auth db>-<user>`'s connection strings into this Secret. */}}
{{- define "rgw.mongoUriSecret" -}}
{{- printf "%s-admin-%s" .Values.mongodb.name .Values.mongodb.user -}}
{{- end -}}

{{/* Credentials come from Secrets; NATS_URL is assembled from them by Kubernetes ($(VAR) below). */}}
{{- define "rgw.env" -}}
- name: NATS_USER
  valueFrom: { secretKeyRef: { name: {{ .Values.secrets.nats.name }}, key: user } }
- name: NATS_PASSWORD
  valueFrom: { secretKeyRef: { name: {{ .Values.secrets.nats.name }}, key: password } }
- name: NATS_URL
  value: {{ printf "nats://$(NATS_USER):$(NATS_PASSWORD)@%s:4222" (include "rgw.natsHost" .) | quote }}
- name: MONGO_URI
  valueFrom: { secretKeyRef: { name: {{ include "rgw.mongoUriSecret" . }}, key: connectionString.standard } }
- name: MONGO_DB
  value: {{ .Values.mongodb.database | quote }}
- name: GATEWAY_CONFIG
  value: /config/gateway.yaml
- name: STREAM_REPLICAS
  value: {{ .Values.streamReplicas | quote }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

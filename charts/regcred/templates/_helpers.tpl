{{- define "regcred.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "regcred.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "regcred.selectorLabels" -}}
app.kubernetes.io/name: {{ include "regcred.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "regcred.labels" -}}
{{ include "regcred.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: regcred
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "regcred.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default "regcred" .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "regcred.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "true" when a provider in `credentials` (or the chainguard compatibility mode) mints service-account tokens. */}}
{{- define "regcred.needsTokenRequest" -}}
{{- $mode := toString .Values.rbac.tokenRequest -}}
{{- if eq $mode "true" -}}true
{{- else if eq $mode "false" -}}
{{- else -}}
{{- $all := toJson .Values.credentials -}}
{{- if or (regexMatch "\"(webIdentity|workloadIdentityFederation|workloadIdentity|serviceAccountToken|chainguard|quay)\"" $all) (and (eq .Values.mode "controller") .Values.controller.chainguardCompat.enabled) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* One credential object (ClusterRegistryCredential, or RegistryCredential when it has a namespace). */}}
{{- define "regcred.credential" -}}
{{- $c := .credential -}}
apiVersion: regcred.dev/v1alpha1
{{- if or $c.namespace $.root.Values.rbac.namespaced }}
kind: RegistryCredential
metadata:
  name: {{ required "credentials[].name is required" $c.name }}
  namespace: {{ required "credentials[].namespace is required with rbac.namespaced" $c.namespace }}
{{- else }}
kind: ClusterRegistryCredential
metadata:
  name: {{ required "credentials[].name is required" $c.name }}
{{- end }}
  labels:
    {{- include "regcred.labels" .root | nindent 4 }}
spec:
  {{- toYaml (required "credentials[].spec is required" $c.spec) | nindent 2 }}
{{- end -}}

{{- define "regcred.podSecurity" -}}
# The pod's pause process is PID 1 and reaps orphans: Node.js does not wait for processes it did
# not start, so an exec plugin's grandchild that outlives the plugin would stay a zombie.
shareProcessNamespace: true
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* The sync container of the CronJob and its initial Job. */}}
{{- define "regcred.syncContainer" -}}
- name: sync
  image: {{ include "regcred.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - sync
    - --filename=/etc/regcred/credentials.yaml
    - --namespace={{ .Release.Namespace }}
    - --log-level={{ .Values.logLevel }}
    - --log-format={{ .Values.logFormat }}
    - --kube-qps={{ .Values.kube.qps }}
    - --kube-burst={{ .Values.kube.burst }}
    {{- with .Values.cronjob.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: config
      mountPath: /etc/regcred
      readOnly: true
    - name: tmp
      mountPath: /tmp
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
{{- end -}}

{{/* "30m" → 1800: durations of the form <n>s|m|h (values.schema.json allows only those). */}}
{{- define "regcred.seconds" -}}
{{- $n := regexFind "^[0-9]+" . | int -}}
{{- $u := regexFind "[smh]$" . -}}
{{- if eq $u "h" }}{{ mul $n 3600 }}{{ else if eq $u "m" }}{{ mul $n 60 }}{{ else }}{{ $n }}{{ end -}}
{{- end -}}

{{/* Names, labels and the checks every template relies on. */}}

{{- define "roost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; the StatefulSet, client Service and ConfigMap use it. Pod names
add "-N", so it stays short enough for the headless Service name and the pod DNS labels. */}}
{{- define "roost.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service: the StatefulSet's serviceName and the DNS name of the seeds. */}}
{{- define "roost.headlessName" -}}
{{- printf "%s-headless" (include "roost.fullname" .) }}
{{- end }}

{{/* ROOST_SEEDS: every pod's A record, not-ready pods included (publishNotReadyAddresses). */}}
{{- define "roost.seeds" -}}
{{- printf "dns:%s.%s.svc.%s:%d" (include "roost.headlessName" .) .Release.Namespace .Values.clusterDomain (int .Values.gossip.port) }}
{{- end }}

{{/* The DNS domain of the pods: <pod>.<this> names one pod (publishNotReadyAddresses makes it
resolve before the pod is ready). With TLS, peers dial these names: the certificate needs no IP. */}}
{{- define "roost.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "roost.headlessName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* The kubernetes.io/tls Secret mounted with tls.enabled. */}}
{{- define "roost.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "roost.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "roost.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "roost.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "roost.labels" -}}
helm.sh/chart: {{ include "roost.chart" . }}
{{ include "roost.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roost
{{- end }}

{{- define "roost.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "roost.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "roost.secretName" -}}
{{- default (include "roost.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The node image: repository@digest when a digest is set, else repository:tag. */}}
{{- define "roost.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "roost.sqlite" -}}
{{- if hasPrefix "sqlite:" (lower .Values.secrets.statestoreUrl) }}true{{ end }}
{{- end }}

{{/* Seconds Kubernetes gives a terminating pod, from the preStop sleep on: the sleep, the
drain, then a final flush and up to 5 s each to close HTTP and stop serf. */}}
{{- define "roost.gracePeriod" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (int .Values.preStopSleepSeconds) (ceil .Values.drainTimeout | int) 15 }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds | int }}
{{- end }}
{{- end }}

{{/* Settings that cannot be checked one value at a time by values.schema.json. Every template
includes this, so `helm template` and `helm install` fail the same way. */}}
{{- define "roost.validate" -}}
{{- $stopping := addf .Values.preStopSleepSeconds .Values.drainTimeout }}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 $stopping) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be greater than preStopSleepSeconds + drainTimeout (%v): Kubernetes would SIGKILL a node before it has handed its actors off and flushed their state" .Values.terminationGracePeriodSeconds $stopping) }}
{{- end }}
{{- end }}
{{- if not .Values.secrets.existingSecret }}
{{- if and (include "roost.sqlite" .) (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) }}
{{- fail "replicaCount > 1 (or autoscaling) needs a statestore every node shares: SQLite is a file inside one pod. Set secrets.statestoreUrl to postgresql://... or mysql://..., or put the URL in secrets.existingSecret" }}
{{- end }}
{{- if and (not (include "roost.sqlite" .)) (or (not .Values.secrets.statestoreKey) (not .Values.secrets.clusterSecret)) }}
{{- fail "with a shared statestore, set secrets.statestoreKey (`roost keygen`) and secrets.clusterSecret, or use secrets.existingSecret: a key generated by the chart would change on every `helm template` and make the stored state unreadable" }}
{{- end }}
{{- end }}
{{- if .Values.tls.enabled }}
{{- if and (not .Values.tls.secretName) (not .Values.tls.certManager.issuerRef) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret with tls.crt, tls.key and ca.crt) or tls.certManager.issuerRef (the chart then renders a cert-manager Certificate that writes it)" }}
{{- end }}
{{- end }}
{{- if and .Values.tls.certManager.issuerRef (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef needs a name (and the kind: Issuer or ClusterIssuer)" }}
{{- end }}
{{- range $name, $_ := .Values.config }}
{{- if and $.Values.tls.enabled (has $name (list "ROOST_TLS_CERT" "ROOST_TLS_KEY" "ROOST_TLS_CA")) }}
{{- fail (printf "config.%s: with tls.enabled the chart sets it to the mounted Secret (see tls in values.yaml); remove it from config" $name) }}
{{- end }}
{{- if has $name (list "ROOST_NODE_ID" "ROOST_ADVERTISE_ADDR" "ROOST_GOSSIP_ADDR" "ROOST_SEEDS" "ROOST_HTTP_ADDR" "ROOST_SYSTEM" "ROOST_ACTORS" "ROOST_DRAIN_TIMEOUT" "ROOST_LOG_LEVEL" "ROOST_LOG_FORMAT") }}
{{- fail (printf "config.%s: the chart sets it from its own values (see values.yaml); remove it from config" $name) }}
{{- end }}
{{- if has $name (list "ROOST_STATESTORE_URL" "ROOST_STATESTORE_KEY" "ROOST_STATESTORE_OLD_KEYS" "ROOST_CLUSTER_SECRET" "ROOST_CLUSTER_OLD_SECRETS" "ROOST_API_TOKENS") }}
{{- fail (printf "config.%s is a secret: the ConfigMap is readable by anyone who can read the namespace's config; set it under secrets (or in secrets.existingSecret)" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.policies (hasKey .Values.config "ROOST_POLICIES_DIR") }}
{{- fail "config.ROOST_POLICIES_DIR: with policies set the chart mounts them and sets it; remove it from config" }}
{{- end }}
{{- if and .Values.actorHost.enabled (not .Values.actorHost.image) }}
{{- fail "actorHost.enabled needs actorHost.image (the image of the Spawn SDK actor host)" }}
{{- end }}
{{- if .Values.actorHost.enabled }}
{{- range .Values.actorHost.ports }}
{{- if has (int .containerPort) (list (int $.Values.http.port) (int $.Values.gossip.port) (int $.Values.spawnProtocol.port)) }}
{{- fail (printf "actorHost.ports: port %v is the node's own (http.port, gossip.port or spawnProtocol.port); the containers of a pod share one network, so give the host another port or move the node's" .containerPort) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/* ROOST_SYSTEM: the main system, then every system declared under `systems`. */}}
{{- define "roost.systemNames" -}}
{{- $names := list .Values.system }}
{{- range $name, $_ := .Values.systems }}{{- $names = append $names $name }}{{- end }}
{{- join "," $names }}
{{- end }}

{{/* An environment variable name for a system name (billing-eu -> BILLING_EU). */}}
{{- define "roost.envName" -}}
{{- regexReplaceAll "[^A-Z0-9]" (upper .) "_" }}
{{- end }}

{{/* Env of the per-system statestores and the remote systems: each secret value in its own
variable first, then the lists the node reads, which Kubernetes expands with $(VAR). */}}
{{- define "roost.systemsEnv" -}}
{{- $stores := list }}
{{- $keys := list }}
{{- range $name, $sys := .Values.systems }}
{{- $v := include "roost.envName" $name }}
{{- $st := $sys.statestore }}
- name: ROOST_SYS_{{ $v }}_USER
  valueFrom:
    secretKeyRef: {name: {{ $st.credentialsSecret }}, key: username}
- name: ROOST_SYS_{{ $v }}_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $st.credentialsSecret }}, key: password}
- name: ROOST_SYS_{{ $v }}_KEY
  valueFrom:
    secretKeyRef: {name: {{ $st.credentialsSecret }}, key: encryptionKey}
{{- $scheme := ternary "postgresql" "mysql" (eq $st.type "postgres") }}
{{- $port := $st.port | default (ternary 5432 3306 (eq $st.type "postgres")) }}
{{- $url := printf "%s://$(ROOST_SYS_%s_USER):$(ROOST_SYS_%s_PASSWORD)@%s:%v/%s?pool_size=%v" $scheme $v $v $st.host $port $st.database ($st.pool | default 10) }}
{{- $stores = append $stores (printf "%s=%s" $name $url) }}
{{- $keys = append $keys (printf "%s=$(ROOST_SYS_%s_KEY)" $name $v) }}
{{- end }}
{{- if $stores }}
- name: ROOST_SYSTEM_STATESTORES
  value: {{ join ";" $stores | quote }}
- name: ROOST_SYSTEM_KEYS
  value: {{ join ";" $keys | quote }}
{{- end }}
{{- $remotes := list }}
{{- $tokens := list }}
{{- range $name, $r := .Values.remoteSystems }}
{{- $remotes = append $remotes (printf "%s=%s" $name $r.url) }}
{{- with $r.tokenSecret }}
- name: ROOST_REMOTE_TOKEN_{{ include "roost.envName" $name }}
  valueFrom:
    secretKeyRef: {name: {{ .name }}, key: {{ .key }}}
{{- $tokens = append $tokens (printf "%s=$(ROOST_REMOTE_TOKEN_%s)" $name (include "roost.envName" $name)) }}
{{- end }}
{{- end }}
{{- if $remotes }}
- name: ROOST_REMOTE_SYSTEMS
  value: {{ join "," $remotes | quote }}
{{- end }}
{{- if $tokens }}
- name: ROOST_REMOTE_TOKENS
  value: {{ join "," $tokens | quote }}
{{- end }}
{{- end }}

{{/* A Spawn actor host (an image written with a Spawn SDK) beside the node, in the same pod: it
registers with the node's Spawn protocol port on loopback, as it would with Spawn's sidecar, and
serves its actions on spawnProtocol.actorHostPort, where the node calls it back. */}}
{{- define "roost.actorHostContainer" -}}
{{- $h := .Values.actorHost }}
- name: {{ $h.name }}
  image: {{ $h.image | quote }}
  imagePullPolicy: {{ $h.imagePullPolicy }}
  env:
    # Where Spawn SDKs find their proxy, and the port they serve on.
    - name: PROXY_HTTP_HOST
      value: "127.0.0.1"
    - name: PROXY_HTTP_PORT
      value: {{ .Values.spawnProtocol.port | quote }}
    - name: SPAWN_PROXY_INTERFACE
      value: "127.0.0.1"
    - name: SPAWN_PROXY_PORT
      value: {{ .Values.spawnProtocol.port | quote }}
    - name: USER_FUNCTION_PORT
      value: {{ .Values.spawnProtocol.actorHostPort | quote }}
    - name: PROXY_ACTOR_SYSTEM_NAME
      value: {{ .Values.system | quote }}
    {{- with $h.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $h.ports }}
  ports:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $stopping := add (int .Values.preStopSleepSeconds) (ceil .Values.drainTimeout | int) }}
  {{- if gt $stopping 0 }}
  # The node calls the host while it drains: the host stops only after the node's preStop
  # sleep and drain (the grace period outlasts both). A sleep action needs no shell in the image.
  lifecycle:
    preStop:
      sleep:
        seconds: {{ $stopping }}
  {{- end }}
  {{- with $h.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $h.securityContext | nindent 4 }}
  {{- with $h.volumeMounts }}
  volumeMounts:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

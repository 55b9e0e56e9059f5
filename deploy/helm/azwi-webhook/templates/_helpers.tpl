{{/*
Object names. They are the upstream Azure AD Workload Identity names, so a cluster moving from the upstream
webhook keeps its objects' names, and they are the defaults the webhook's certificate rotation uses
(src/webhook/cert_rotation.hpp; tests/deploy checks that both agree).
*/}}
{{- define "azwi.serviceAccountName" -}}azure-wi-webhook-admin{{- end }}
{{- define "azwi.deploymentName" -}}azure-wi-webhook-controller-manager{{- end }}
{{- define "azwi.serviceName" -}}azure-wi-webhook-webhook-service{{- end }}
{{- define "azwi.secretName" -}}azure-wi-webhook-server-cert{{- end }}
{{- define "azwi.configMapName" -}}azure-wi-webhook-config{{- end }}
{{- define "azwi.webhookConfigName" -}}azure-wi-webhook-mutating-webhook-configuration{{- end }}
{{- define "azwi.webhookName" -}}mutation.azure-workload-identity.io{{- end }}
{{- define "azwi.roleName" -}}azure-wi-webhook-manager-role{{- end }}
{{- define "azwi.roleBindingName" -}}azure-wi-webhook-manager-rolebinding{{- end }}
{{- define "azwi.certificateName" -}}azure-wi-webhook-serving-cert{{- end }}
{{- define "azwi.issuerName" -}}azure-wi-webhook-selfsigned-issuer{{- end }}

{{- define "azwi.imageTag" -}}{{ default (printf "v%s" .Chart.AppVersion) .Values.image.tag }}{{- end }}
{{- define "azwi.webhookImage" -}}{{ .Values.image.registry }}/{{ .Values.image.webhook }}:{{ include "azwi.imageTag" . }}{{- end }}
{{- define "azwi.proxyImage" -}}{{ .Values.image.registry }}/{{ .Values.image.proxy }}:{{ include "azwi.imageTag" . }}{{- end }}
{{- define "azwi.cniImage" -}}{{ .Values.image.registry }}/{{ .Values.image.cni }}:{{ include "azwi.imageTag" . }}{{- end }}
{{- define "azwi.proxyInitImage" -}}{{ .Values.image.registry }}/{{ .Values.image.proxyInit }}:{{ include "azwi.imageTag" . }}{{- end }}

{{/* Labels on every object. */}}
{{- define "azwi.labels" -}}
app.kubernetes.io/name: azwi-webhook
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: azure-workload-identity
azure-workload-identity.io/system: "true"
{{- end }}

{{/* The webhook pods; the Service and the PodDisruptionBudget select them by these. */}}
{{- define "azwi.selectorLabels" -}}
app.kubernetes.io/name: azwi-webhook
azure-workload-identity.io/system: "true"
{{- end }}

{{/* --proxy-resources and --proxy-init-resources from a Kubernetes resources object: every key written, an absent
one empty (left out of the injected container). */}}
{{- define "azwi.resourcesFlag" -}}
{{- $r := .requests | default dict -}}
{{- $l := .limits | default dict -}}
requests.cpu={{ $r.cpu | default "" }},requests.memory={{ $r.memory | default "" }},limits.cpu={{ $l.cpu | default "" }},limits.memory={{ $l.memory | default "" }}
{{- end }}

{{/* Labels every object of the chart carries. */}}
{{- define "iter8.labels" -}}
app.kubernetes.io/part-of: iter8
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The platforms value, checked: only kserve and kfserving are known. */}}
{{- define "iter8.platforms" -}}
{{- range .Values.platforms }}
{{- if not (has . (list "kserve" "kfserving")) }}
{{- fail (printf "platforms: %q is not a serving platform iter8 knows (kserve, kfserving)" .) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "fledge.labels" -}}
app.kubernetes.io/name: fledge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "fledge.selector" -}}
app.kubernetes.io/name: fledge-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

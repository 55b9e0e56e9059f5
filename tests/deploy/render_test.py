"""Unit tests of deploy/render.py: the chart must render as Helm renders it, so the renderer follows Go
text/template and Helm semantics for everything the chart uses (expected outputs are what Go/Helm print)."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy"))
import render  # noqa: E402

ROOT = {"Values": {"name": "x", "n": 3, "on": True, "off": False, "empty": "", "list": [], "map": {"b": 1, "a": [1, 2]},
                   "nested": {"deep": {"v": "d"}}},
        "Release": {"Name": "rel", "Namespace": "ns"}, "Chart": {"Name": "c", "Version": "1", "AppVersion": "0.1.0"}}


def run(src, root=ROOT):
    defines = {}
    nodes = render.parse(src, "t", defines)
    return render.Renderer(root, defines).run(nodes, root, "t")


class Trimming(unittest.TestCase):
    def test_left_and_right_markers_eat_all_adjacent_whitespace(self):
        self.assertEqual(run("a  \n  {{- .Values.name -}}  \n  b"), "axb")

    def test_without_markers_whitespace_stays(self):
        self.assertEqual(run("a {{ .Values.name }} b"), "a x b")

    def test_block_on_its_own_line_leaves_no_blank_line(self):
        self.assertEqual(run("a:\n  {{- if .Values.on }}\n  b: 1\n  {{- end }}\nc: 2"), "a:\n  b: 1\nc: 2")

    def test_comments_print_nothing(self):
        self.assertEqual(run("a{{/* note */}}b{{- /* trimmed */ -}} c"), "abc")


class Control(unittest.TestCase):
    def test_if_else_if_else(self):
        src = "{{ if .Values.off }}1{{ else if .Values.empty }}2{{ else if .Values.n }}3{{ else }}4{{ end }}"
        self.assertEqual(run(src), "3")
        self.assertEqual(run("{{ if .Values.off }}1{{ else if .Values.empty }}2{{ else }}4{{ end }}"), "4")

    def test_go_truthiness(self):
        for v in ("off", "empty", "list", "missing"):
            self.assertEqual(run("{{ if .Values.%s }}t{{ else }}f{{ end }}" % v), "f", v)
        self.assertEqual(run("{{ if .Values.map }}t{{ end }}"), "t")

    def test_with_rebinds_dot_and_dollar_is_the_root(self):
        self.assertEqual(run("{{ with .Values.nested.deep }}{{ .v }}-{{ $.Release.Name }}{{ end }}"), "d-rel")
        self.assertEqual(run("{{ with .Values.empty }}no{{ else }}else{{ end }}"), "else")

    def test_define_and_include(self):
        self.assertEqual(run('{{- define "n" -}}{{ .Release.Name }}-svc{{- end }}[{{ include "n" . }}]'), "[rel-svc]")

    def test_logic_functions(self):
        self.assertEqual(run("{{ if and .Values.on .Values.n }}y{{ end }}"), "y")
        self.assertEqual(run("{{ if or .Values.off .Values.empty }}y{{ else }}n{{ end }}"), "n")
        self.assertEqual(run("{{ if not .Values.off }}y{{ end }}"), "y")
        self.assertEqual(run('{{ if eq .Values.name "x" }}y{{ end }}'), "y")


class Functions(unittest.TestCase):
    def test_quote_and_printing(self):
        self.assertEqual(run("{{ .Values.n | quote }} {{ .Values.on }} {{ .Values.name | quote }}"), '"3" true "x"')

    def test_default_printf_and_sub_pipelines(self):
        self.assertEqual(run('{{ default (printf "v%s" .Chart.AppVersion) .Values.empty }}'), "v0.1.0")
        self.assertEqual(run('{{ .Values.name | default "y" }}'), "x")

    def test_toyaml_with_nindent_sorts_keys_and_indents_every_line(self):
        self.assertEqual(run("m:{{ toYaml .Values.map | nindent 2 }}"), "m:\n  a:\n  - 1\n  - 2\n  b: 1")

    def test_required_fails_with_its_message(self):
        with self.assertRaisesRegex(render.TemplateError, "give a name"):
            run('{{ required "give a name" .Values.empty }}')

    def test_printing_a_missing_value_is_an_error(self):
        with self.assertRaisesRegex(render.TemplateError, "no value"):
            run("{{ .Values.nmae }}")

    def test_unsupported_constructs_are_refused(self):
        for src in ("{{ range .Values.list }}{{ end }}", "{{ upper .Values.name }}", "{{ if .Values.on }}x"):
            with self.assertRaises(render.TemplateError, msg=src):
                run(src)


class Values(unittest.TestCase):
    def test_set_types_values_as_helm_does(self):
        v = {}
        for s in ("a.b=true", "a.n=12", "a.s=012", "a.t=${AZURE_TENANT_ID}", "c="):
            render.apply_set(v, s)
        self.assertEqual(v, {"a": {"b": True, "n": 12, "s": "012", "t": "${AZURE_TENANT_ID}"}, "c": ""})

    def test_values_files_merge_deeply(self):
        chart = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "helm", "azwi-webhook")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("image: {tag: v7}\nazureTenantID: t\n")
        try:
            docs = render.render_chart(chart, "ns1", "r", [f.name])
        finally:
            os.unlink(f.name)
        dep = [o for _, o in docs if o["kind"] == "Deployment"][0]
        self.assertEqual(dep["spec"]["template"]["spec"]["containers"][0]["image"], "ghcr.io/azwi/azwi-webhook:v7")
        self.assertEqual(dep["metadata"]["namespace"], "ns1")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""Renders the Helm chart in deploy/helm without Helm (Debian 12 packages no helm binary).

It implements the part of Go's text/template and of Helm that the chart uses, with Go's semantics, so that
`helm template` and this script produce the same objects:

  actions      {{ pipeline }}  {{ if }} {{ else if }} {{ else }} {{ end }}  {{ with }}  {{ define "x" }}
               {{/* comments */}}, and the {{- / -}} whitespace trimming markers
  pipelines    .Values.a.b  .Release.Name  .Release.Namespace  .Chart.Name  .Chart.Version  .Chart.AppVersion
               $ (the root)  . (the current value)  "strings"  numbers  true false  (sub pipelines)  a | f b
  functions    include quote squote toYaml indent nindent default required printf eq ne not and or empty
               trunc trimSuffix print

Anything else is an error naming the template and the construct, so a chart change that needs more of Helm
fails here loudly instead of rendering something different. Printing a missing value is an error too (Helm
would print an empty string), which catches misspelt value paths.

Usage: render.py CHART_DIR [--namespace NS] [--release-name NAME] [--values FILE]... [--set a.b=value]...
Writes the rendered objects, one YAML document each, to stdout in the order Helm installs them.
"""
import argparse
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


# ---------------------------------------------------------------- lexing and parsing

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


class Node:
    pass


class Text(Node):
    def __init__(self, text):
        self.text = text


class Action(Node):
    def __init__(self, pipe):
        self.pipe = pipe


class Branch(Node):  # if / with
    def __init__(self, kind, pipe):
        self.kind, self.pipe, self.body, self.orelse = kind, pipe, [], []


def lex(source, name):
    """Splits a template into text and action pieces, applying the trim markers as Go does."""
    pieces = []
    pos = 0
    for m in ACTION.finditer(source):
        text = source[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        pieces.append(("text", text))
        body = m.group(2).strip()
        pieces.append(("action", body, bool(m.group(3))))
        pos = m.end()
    pieces.append(("text", source[pos:]))
    # A right trim marker removes the leading whitespace of the text after it.
    out = []
    trim_next = False
    for p in pieces:
        if p[0] == "text":
            t = p[1].lstrip(" \t\r\n") if trim_next else p[1]
            trim_next = False
            if t:
                out.append(("text", t))
        else:
            out.append(("action", p[1]))
            trim_next = p[2]
    return out


def parse(source, name, defines):
    """Returns the node list of the template; {{ define }} blocks go into `defines`."""
    root = []
    stack = [(None, root)]  # (branch or define-name, list being filled)
    for piece in lex(source, name):
        target = stack[-1][1]
        if piece[0] == "text":
            target.append(Text(piece[1]))
            continue
        body = piece[1]
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"{name}: unterminated comment")
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        if word in ("if", "with"):
            b = Branch(word, rest)
            target.append(b)
            stack.append((b, b.body))
        elif word == "else":
            owner = stack[-1][0]
            if not isinstance(owner, Branch) or stack[-1][1] is owner.orelse:
                raise TemplateError(f"{name}: else without if/with")
            stack.pop()
            if rest.startswith("if "):
                inner = Branch("if", rest[3:].strip())
                inner.chained = True
                owner.orelse.append(inner)
                stack.append((owner, owner.orelse))
                stack.append((inner, inner.body))
            elif rest:
                raise TemplateError(f"{name}: unsupported else form {{{{ {body} }}}}")
            else:
                stack.append((owner, owner.orelse))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError(f"{name}: end without a block")
            owner, _ = stack.pop()
            # An else-if chain ends with the single end of its first if.
            while getattr(owner, "chained", False):
                owner = stack.pop()[0]
        elif word == "define":
            m = re.fullmatch(r'"([^"]+)"', rest)
            if not m or len(stack) != 1:
                raise TemplateError(f"{name}: bad define {{{{ {body} }}}}")
            nodes = []
            defines[m.group(1)] = nodes
            stack.append((m.group(1), nodes))
        elif word in ("range", "template", "block", "break", "continue") or word.startswith("$") and ":=" in body:
            raise TemplateError(f"{name}: {{{{ {word} }}}} is not supported by this renderer")
        else:
            target.append(Action(body))
    if len(stack) != 1:
        raise TemplateError(f"{name}: missing {{{{ end }}}}")
    return root


TOKEN = re.compile(r'\s*(?:(\()|(\))|(\|)|("(?:[^"\\]|\\.)*")|(`[^`]*`)|(-?\d+)|([$.][\w.$]*|[A-Za-z_]\w*))')


def tokenize(text, name):
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{name}: cannot parse {text[pos:]!r}")
        pos = m.end()
        if m.group(1):
            tokens.append(("(",))
        elif m.group(2):
            tokens.append((")",))
        elif m.group(3):
            tokens.append(("|",))
        elif m.group(4):
            tokens.append(("str", bytes(m.group(4)[1:-1], "utf-8").decode("unicode_escape")))
        elif m.group(5):
            tokens.append(("str", m.group(5)[1:-1]))
        elif m.group(6):
            tokens.append(("int", int(m.group(6))))
        else:
            tokens.append(("word", m.group(7)))
    return tokens


def parse_pipeline(tokens, name):
    """tokens -> list of commands, each a list of operands ("str"/"int"/"word"/("pipe", sub))."""
    commands, current, i = [], [], 0
    while i < len(tokens):
        t = tokens[i]
        if t[0] == "|":
            commands.append(current)
            current = []
        elif t[0] == "(":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {"(": 1, ")": -1}.get(tokens[j][0], 0)
                j += 1
            if depth:
                raise TemplateError(f"{name}: unbalanced parentheses")
            current.append(("pipe", parse_pipeline(tokens[i + 1:j - 1], name)))
            i = j
            continue
        elif t[0] == ")":
            raise TemplateError(f"{name}: unbalanced parentheses")
        else:
            current.append(t)
        i += 1
    commands.append(current)
    if any(not c for c in commands):
        raise TemplateError(f"{name}: empty command in pipeline")
    return commands


# ---------------------------------------------------------------- evaluation

MISSING = object()


def truthy(v):
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def to_yaml(v):
    if v is MISSING or v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, width=10**6).rstrip("\n")


def go_string(v, name, what):
    if v is MISSING or v is None:
        raise TemplateError(f"{name}: {what} has no value (misspelt value path?)")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise TemplateError(f"{name}: {what} is a map or list; use toYaml")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def go_printf(fmt, *args):
    out, ai = [], 0

    def verb(m):
        nonlocal ai
        if m.group(0) == "%%":
            return "%"
        a = args[ai]
        ai += 1
        if m.group(1) == "q":
            return '"' + str(a).replace("\\", "\\\\").replace('"', '\\"') + '"'
        return go_string(a, "printf", "argument")

    return re.sub(r"%%|%([sdvq])", verb, fmt)


class Renderer:
    def __init__(self, root, defines):
        self.root = root
        self.defines = defines

    def field(self, dot, path, name):
        if path.startswith("$"):
            base, path = self.root, path[1:]
        else:
            base = dot
        for part in [p for p in path.split(".") if p]:
            if isinstance(base, dict):
                base = base.get(part, MISSING)
            else:
                return MISSING
        return base

    def operand(self, op, dot, name):
        kind = op[0]
        if kind in ("str", "int"):
            return op[1]
        if kind == "pipe":
            return self.pipeline(op[1], dot, name)
        word = op[1]
        if word in ("true", "false"):
            return word == "true"
        if word == "nil":
            return None
        if word.startswith(".") or word.startswith("$"):
            return self.field(dot, word, name)
        return self.call(word, [], dot, name)

    def call(self, fn, args, dot, name):
        def need(n):
            if len(args) != n:
                raise TemplateError(f"{name}: {fn} takes {n} arguments, got {len(args)}")

        if fn == "include":
            need(2)
            if args[0] not in self.defines:
                raise TemplateError(f"{name}: no template named {args[0]!r}")
            return self.run(self.defines[args[0]], args[1], f"{name} > {args[0]}")
        if fn == "quote":
            return " ".join(go_printf("%q", a if a is not MISSING and a is not None else "") for a in args)
        if fn == "squote":
            return " ".join("'" + go_string(a, name, "squote argument") + "'" for a in args)
        if fn == "toYaml":
            need(1)
            return to_yaml(args[0])
        if fn in ("indent", "nindent"):
            need(2)
            pad = " " * args[0]
            text = pad + go_string(args[1], name, fn + " argument").replace("\n", "\n" + pad)
            return "\n" + text if fn == "nindent" else text
        if fn == "default":
            need(2)
            return args[1] if truthy(args[1]) else args[0]
        if fn == "required":
            need(2)
            if args[1] is MISSING or args[1] is None or args[1] == "":
                raise TemplateError(f"{name}: {args[0]}")
            return args[1]
        if fn == "printf":
            return go_printf(*args)
        if fn == "print":
            return "".join(go_string(a, name, "print argument") for a in args)
        if fn in ("eq", "ne"):
            need(2)
            same = args[0] == args[1]
            return same if fn == "eq" else not same
        if fn == "not":
            need(1)
            return not truthy(args[0])
        if fn == "empty":
            need(1)
            return not truthy(args[0])
        if fn == "and":
            for a in args:
                if not truthy(a):
                    return a
            return args[-1]
        if fn == "or":
            for a in args:
                if truthy(a):
                    return a
            return args[-1]
        if fn == "trunc":
            need(2)
            return go_string(args[1], name, "trunc argument")[:args[0]]
        if fn == "trimSuffix":
            need(2)
            s = go_string(args[1], name, "trimSuffix argument")
            return s[:-len(args[0])] if args[0] and s.endswith(args[0]) else s
        raise TemplateError(f"{name}: function {fn!r} is not supported by this renderer")

    def pipeline(self, commands, dot, name):
        value = MISSING
        for i, command in enumerate(commands):
            head = command[0]
            is_fn = head[0] == "word" and not head[1].startswith((".", "$")) and head[1] not in ("true", "false", "nil")
            if is_fn:
                args = [self.operand(op, dot, name) for op in command[1:]]
                if i > 0:
                    args.append(value)
                value = self.call(head[1], args, dot, name)
            else:
                if len(command) != 1 or i > 0:
                    raise TemplateError(f"{name}: cannot call a value")
                value = self.operand(head, dot, name)
        return value

    def eval_text(self, text, dot, name):
        return self.pipeline(parse_pipeline(tokenize(text, name), name), dot, name)

    def run(self, nodes, dot, name):
        out = []
        for n in nodes:
            if isinstance(n, Text):
                out.append(n.text)
            elif isinstance(n, Action):
                out.append(go_string(self.eval_text(n.pipe, dot, name), name, "{{ " + n.pipe + " }}"))
            else:
                v = self.eval_text(n.pipe, dot, name)
                if truthy(v):
                    out.append(self.run(n.body, v if n.kind == "with" else dot, name))
                else:
                    out.append(self.run(n.orelse, dot, name))
        return "".join(out)


# ---------------------------------------------------------------- values and the chart

def merge(base, override):
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def apply_set(values, assignment):
    """--set a.b=c as Helm parses simple assignments: true/false/null and integers are typed, the rest strings."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise TemplateError(f"--set {assignment!r}: expected key=value")
    if raw in ("true", "false"):
        value = raw == "true"
    elif raw == "null":
        value = None
    elif re.fullmatch(r"-?\d+", raw) and not (len(raw) > 1 and raw.lstrip("-").startswith("0")):
        value = int(raw)
    else:
        value = raw
    parts = key.split(".")
    node = values
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


# Helm's install order for the kinds this chart has.
KIND_ORDER = ["Namespace", "PodDisruptionBudget", "ServiceAccount", "Secret", "ConfigMap", "ClusterRole",
              "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "Issuer", "Certificate",
              "MutatingWebhookConfiguration"]


def render_chart(chart_dir, namespace, release_name, value_files=(), sets=()):
    with open(os.path.join(chart_dir, "Chart.yaml"), encoding="utf-8") as f:
        chart = yaml.safe_load(f)
    with open(os.path.join(chart_dir, "values.yaml"), encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    for path in value_files:
        with open(path, encoding="utf-8") as f:
            merge(values, yaml.safe_load(f) or {})
    for s in sets:
        apply_set(values, s)
    root = {
        "Values": values,
        "Release": {"Name": release_name, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
        "Chart": {"Name": chart["name"], "Version": str(chart["version"]), "AppVersion": str(chart["appVersion"])},
    }
    tdir = os.path.join(chart_dir, "templates")
    defines, bodies = {}, []
    for fname in sorted(os.listdir(tdir)):
        with open(os.path.join(tdir, fname), encoding="utf-8") as f:
            nodes = parse(f.read(), fname, defines)
        if not fname.startswith("_"):
            bodies.append((fname, nodes))
    renderer = Renderer(root, defines)
    docs = []
    for fname, nodes in bodies:
        text = renderer.run(nodes, root, fname)
        for doc in re.split(r"(?m)^---\s*$", text):
            if not doc.strip():
                continue
            try:
                obj = yaml.safe_load(doc)
            except yaml.YAMLError as e:
                raise TemplateError(f"{fname}: rendered text is not YAML: {e}\n{doc}")
            if obj is None:
                continue
            if not isinstance(obj, dict) or "kind" not in obj:
                raise TemplateError(f"{fname}: rendered a document without kind")
            docs.append((fname, obj))
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    docs.sort(key=lambda d: (rank.get(d[1]["kind"], len(rank)), d[1]["metadata"]["name"]))
    return docs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("chart")
    p.add_argument("--namespace", default="azure-workload-identity-system")
    p.add_argument("--release-name", default="azwi-webhook")
    p.add_argument("--values", action="append", default=[])
    p.add_argument("--set", action="append", default=[])
    args = p.parse_args()
    try:
        docs = render_chart(args.chart, args.namespace, args.release_name, args.values, args.set)
    except (TemplateError, OSError, yaml.YAMLError) as e:
        print(f"render.py: {e}", file=sys.stderr)
        return 1
    out = []
    for fname, obj in docs:
        out.append(f"# Source: {os.path.basename(args.chart.rstrip('/'))}/templates/{fname}\n" + to_yaml(obj) + "\n")
    sys.stdout.write("---\n" + "---\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Each binary's --help against its doc page: every flag and environment variable --help lists is in the page's
flag or variable tables, and every one those tables document is in --help. Nothing is listed here but which page
documents which command, so flags added to a binary and its page need no change to this test.

A doc page's tables are the markdown tables of its section (from the heading to the next heading of the same or a
higher level) whose header's first cell is `flag` (flags) or `variable` / `environment` (variables); the names are
the backticked `--flag` and `VARIABLE` tokens of each row's first cell.

  help_matches_docs.py ROOT NAME=BINARY...     (ctest passes the built binaries)
"""
import re
import subprocess
import sys

# (binary, arguments before --help, doc file, section heading(s) or None for the whole file[, shared]); shared: the
# section documents several commands together, so it may list flags this one lacks (only --help ⊆ doc is checked)
PAGES = [
    ("azwi-proxy", [], "README.md", "azwi-proxy"),
    ("azwi-proxy-init", [], "docs/proxy-init.md", None),
    ("azwi-cni", [], "docs/cni.md", "The node agent: `azwi-cni install`"),
    ("azwi-webhook", [], "docs/webhook.md", None),
    ("azwi-emulator", ["serve"], "docs/emulator.md", "serve"),
    ("azwi-emulator", ["mint-token"], "docs/emulator.md", "mint-token"),
    ("azwi-emulator", ["decode-token"], "docs/emulator.md", "decode-token"),
    ("azwi-emulator", ["rotate-keys"], "docs/emulator.md", "rotate-keys"),
    ("azwi", ["doctor", "pod"], "docs/cli.md", ["azwi doctor pod NAME", "Calling ARM"]),
    ("azwi", ["podidentity", "detect"], "docs/cli.md", "azwi podidentity detect"),
    ("azwi", ["serviceaccount", "create"], "docs/cli.md", ["azwi serviceaccount create | delete", "Calling ARM"]),
    ("azwi", ["serviceaccount", "delete"], "docs/cli.md", ["azwi serviceaccount create | delete", "Calling ARM"], True),
    ("azwi", ["jwks"], "docs/cli.md", "azwi jwks"),
]
# Every command takes --help; the docs index says so once instead of every table.
IMPLICIT_FLAGS = {"help"}

FLAG = re.compile(r"`--([a-z0-9][a-z0-9-]*)")
VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def help_entries(text):
    """(flags, variables) listed by a FlagSet usage text: `  --name[=type]  help` under Flags:, `  NAME[, NAME]  help`
    under Environment:."""
    flags, variables, section = set(), set(), None
    for line in text.splitlines():
        if not line.startswith(" "):
            section = line.strip().rstrip(":").lower()
            continue
        if section == "flags":
            m = re.match(r"  --([a-z0-9][a-z0-9-]*)", line)
            if m:
                flags.add(m.group(1))
        elif section == "environment":
            m = re.match(r"  ([A-Z][A-Z0-9_]*(?:, [A-Z][A-Z0-9_]*)*)", line)
            if m:
                variables.update(m.group(1).split(", "))
    return flags, variables


def section_lines(text, heading):
    lines = text.splitlines()
    if heading is None:
        return lines
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2).strip() == heading:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines))
                        if re.match(r"#{1,%d} " % level, lines[j])), len(lines))
            return lines[i + 1:end]
    raise AssertionError(f"no heading '{heading}'")


def cells(row):
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def documented_entries(lines):
    """(flags, variables) of the flag and variable tables among the lines."""
    flags, variables, in_code, kind = set(), set(), False, None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("|"):
            kind = None
            continue
        if kind is None:  # a header row, if the next line is the delimiter row
            is_header = i + 1 < len(lines) and re.match(r"\|[\s|:-]+\|\s*$", lines[i + 1])
            first = cells(line)[0].lower() if is_header else ""
            kind = "flags" if first in ("flag", "flags") else "variables" if first in ("variable", "environment") \
                else "other"
            continue
        first = cells(line)[0]
        if kind == "flags":
            flags.update(FLAG.findall(first))
        elif kind == "variables":
            variables.update(VARIABLE.findall(first))
    return flags, variables


def self_test():
    """The checks find what they exist to find: a flag missing from a table, a stale one, a variable in neither."""
    usage = ("Usage: x [flags]\n\nFlags:\n  --help   h\n  --port=int   p\n  --new   n\n\n"
             "Environment:\n  HTTPS_PROXY, NO_PROXY  e\n  NEW_VAR  v\n")
    page = ("# x\n\n| flag | default |\n|---|---|\n| `--port` | `80` |\n| `--gone`, `--help` | |\n\n"
            "```\n| `--in-code` |\n```\n\n| variable | meaning |\n|---|---|\n| `HTTPS_PROXY`, `NO_PROXY` | |\n"
            "| `OLD_VAR` | |\n\n| other | x |\n|---|---|\n| `--not-a-flag-table` | |\n")
    help_flags, help_vars = help_entries(usage)
    doc_flags, doc_vars = documented_entries(section_lines(page, None))
    assert help_flags == {"help", "port", "new"}, help_flags
    assert help_vars == {"HTTPS_PROXY", "NO_PROXY", "NEW_VAR"}, help_vars
    assert doc_flags == {"port", "gone", "help"}, doc_flags
    assert doc_vars == {"HTTPS_PROXY", "NO_PROXY", "OLD_VAR"}, doc_vars
    assert section_lines("# a\n## b\nx\n### c\ny\n## d\nz\n", "b") == ["x", "### c", "y"]
    print("self-test passed")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1]
    binaries = dict(arg.split("=", 1) for arg in sys.argv[2:])
    problems = []
    for binary, args, doc, heading, *shared in PAGES:
        headings = heading if isinstance(heading, list) else [heading]
        where = f"{doc}" + (f" section(s) {', '.join(repr(h) for h in headings)}" if heading else "")
        command = " ".join([binary, *args])
        proc = subprocess.run([binaries[binary], *args, "--help"], capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            problems.append(f"{command} --help exits {proc.returncode}: {proc.stderr.strip()}")
            continue
        help_flags, help_vars = help_entries(proc.stdout)
        with open(f"{root}/{doc}") as f:
            text = f.read()
        doc_flags, doc_vars = documented_entries([line for h in headings for line in section_lines(text, h)])
        for name in sorted(help_flags - doc_flags - IMPLICIT_FLAGS):
            problems.append(f"{command}: --{name} is in --help but not in a flag table of {where}")
        for name in sorted(set() if shared else doc_flags - help_flags):
            problems.append(f"{command}: --{name} is documented in {where} but not in --help")
        for name in sorted(help_vars - doc_vars):
            problems.append(f"{command}: {name} is in --help but not in a variable table of {where}")
        for name in sorted(set() if shared else doc_vars - help_vars):
            problems.append(f"{command}: {name} is documented in {where} but not in --help")
        print(f"{command}: {len(help_flags)} flags, {len(help_vars)} variables")
    if problems:
        print("\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

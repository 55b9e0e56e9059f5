#!/usr/bin/env python3
"""Runs the `sh` blocks of a section of a doc page in order, as one bash script, the way a reader pastes them: the
docs stay runnable because the tests run them.

Markers (an HTML comment on the line before a block's opening fence, invisible when rendered):
  <!-- runbook: skip: REASON -->   the block cannot run where the tests run (a cloud CLI, a registry); REASON says why
  <!-- runbook: only PATH -->      the block belongs to one path of several (e.g. `helm` or `manifests`); it runs only
                                   when that path is chosen
Substitutions are the edits a reader makes (their registry, tenant, identity): each is exact text, and each must
occur in the blocks that run, so a substitution cannot silently go stale.

  runbook.py FILE HEADING [--path PATH] [--sub OLD=NEW]... [--expect TEXT]... [--timeout S] [--print]
(--expect: the output must contain TEXT, what the page tells the reader to look for)
"""
import argparse
import os
import re
import signal
import subprocess
import sys

MARKER = re.compile(r"<!--\s*runbook:\s*(skip|only)\b:?\s*(.*?)\s*-->")


def section(text, heading):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2).strip() == heading:
            level = len(m.group(1))
            end = next((j for j in range(i + 1, len(lines)) if re.match(r"#{1,%d} " % level, lines[j])), len(lines))
            return i, lines[i:end]
    raise ValueError(f"no heading '{heading}'")


def blocks(text, heading):
    """[(line number, marker kind or None, marker argument, code)] of the sh blocks under the heading."""
    start, lines = section(text, heading)
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() in ("```sh", "```bash"):
            marker = MARKER.search(lines[i - 1]) if i > 0 else None
            j = next(k for k in range(i + 1, len(lines)) if lines[k].strip() == "```")
            out.append((start + i + 1, marker.group(1) if marker else None, marker.group(2) if marker else "",
                        "\n".join(lines[i + 1:j])))
            i = j
        i += 1
    return out


def script(text, heading, path=None, subs=()):
    """The bash script of the blocks that run (with the substitutions made) and the skipped blocks' reasons."""
    parts, skipped = ["set -euo pipefail"], []
    for line, kind, arg, code in blocks(text, heading):
        if kind == "skip":
            if not arg:
                raise ValueError(f"line {line}: a skipped block must say why")
            skipped.append(f"line {line}: {arg}")
            continue
        if kind == "only" and arg != path:
            continue
        parts.append(f"echo \">>> runbook block at line {line}, $SECONDS s\" >&2\n{code}")
    body = "\n".join(parts) + "\n"
    for old, new in subs:
        if old not in body:
            raise ValueError(f"substitution {old!r} matches nothing in the blocks that run")
        body = body.replace(old, new)
    return body, skipped


def run(file, heading, path=None, subs=(), timeout=600, cwd=None, env=None):
    """Runs the blocks; returns the completed process (stdout and stderr as text)."""
    with open(file) as f:
        body, skipped = script(f.read(), heading, path, subs)
    for reason in skipped:
        print(f"runbook: not run here, {reason}", file=sys.stderr)
    # A session of its own: whatever a failed or timed-out run left in the background is stopped with it.
    proc = subprocess.Popen(["bash", "-c", body], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\nrunbook: gave up after {timeout} s\n"
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("heading")
    ap.add_argument("--path")
    ap.add_argument("--sub", action="append", default=[], help="OLD=NEW (exact text)")
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--print", action="store_true", help="print the script instead of running it")
    a = ap.parse_args()
    subs = [tuple(s.split("=", 1)) for s in a.sub]
    if a.print:
        with open(a.file) as f:
            print(script(f.read(), a.heading, a.path, subs)[0])
        return 0
    proc = run(a.file, a.heading, a.path, subs, a.timeout)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        print("runbook: a block failed (the last '>>> runbook block' line names it)", file=sys.stderr)
        return proc.returncode
    missing = [text for text in a.expect if text not in proc.stdout]
    for text in missing:
        print(f"runbook: the output lacks {text!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

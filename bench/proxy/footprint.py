#!/usr/bin/env python3
"""Where a process's resident memory is, from /proc/PID/smaps.

Usage: bench/proxy/footprint.py PID [--markdown LABEL]

Groups the mappings into the executable's code, read-only data, writable data, heap, stacks and other anonymous
memory, and sums Rss, Pss, Private (clean + dirty) and Anonymous for each (KiB). With --markdown it prints one table
row per group, headed by LABEL, for the benchmark reports; otherwise a plain table.
"""
import argparse
import collections
import os
import re

FIELDS = ("Rss", "Pss", "Private", "Anonymous")


def mappings(pid):
    """Yields (perms, path, {field: KiB}) for each mapping of /proc/PID/smaps."""
    current = None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            head = re.match(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if head:
                if current:
                    yield current
                current = (head.group(1), head.group(2).strip(), collections.Counter())
                continue
            field = re.match(r"^(\w+):\s+(\d+) kB", line)
            if field and current:
                name, kib = field.group(1), int(field.group(2))
                if name in ("Private_Clean", "Private_Dirty"):
                    current[2]["Private"] += kib
                elif name in FIELDS:
                    current[2][name] += kib
    if current:
        yield current


def group_of(perms, path, exe):
    if path == exe:
        return {"r-xp": "binary: code", "rw-p": "binary: data"}.get(perms, "binary: read-only data")
    if path == "[heap]":
        return "heap"
    if path.startswith("[stack"):
        return "stacks"
    if path.startswith("/"):
        return "other files: " + ("code" if "x" in perms else "data")
    if path.startswith("["):
        return "kernel ([vdso], [vvar])"
    return "anonymous: .bss, thread stacks, malloc arenas"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pid", type=int)
    parser.add_argument("--markdown", metavar="LABEL")
    args = parser.parse_args()
    exe = os.path.realpath(f"/proc/{args.pid}/exe")
    groups = collections.OrderedDict()
    total = collections.Counter()
    for perms, path, values in mappings(args.pid):
        name = group_of(perms, path, exe)
        groups.setdefault(name, collections.Counter()).update(values)
        total.update(values)
    order = ["binary: code", "binary: read-only data", "binary: data", "heap", "stacks"]
    groups = collections.OrderedDict(sorted(groups.items(), key=lambda g: (order + [g[0]]).index(g[0])))
    groups["total"] = total
    if args.markdown:
        for name, values in groups.items():
            if not any(values.values()):
                continue
            cells = " | ".join(f"{values[f]}" for f in FIELDS)
            label = f"**{name}**" if name == "total" else name
            print(f"| {args.markdown} | {label} | {cells} |")
        return
    print(f"{'mappings':34} " + " ".join(f"{f + ' KiB':>13}" for f in FIELDS))
    for name, values in groups.items():
        print(f"{name:34} " + " ".join(f"{values[f]:13}" for f in FIELDS))


if __name__ == "__main__":
    main()

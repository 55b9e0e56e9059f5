#!/usr/bin/env python3
"""Every relative link of the docs (README.md, CHANGELOG.md, docs/*.md) names a file that exists and, with a
`#fragment`, a heading of that file (GitHub's anchors: lowercase, punctuation dropped, spaces to hyphens); the
README's docs index links every page of docs/.

  links_resolve.py ROOT | --self-test
"""
import glob
import os
import re
import sys

LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading):
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    out, in_code = set(), False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#+ (.*)", line)
        if m:
            out.add(slug(m.group(1)))
    return out


def links(text):
    """Link targets outside code blocks and code spans."""
    out, in_code = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            out += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return out


def problems(root, files):
    found = []
    for path in files:
        with open(path) as f:
            text = f.read()
        for target in links(text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: checked by nobody here
            file_part, _, fragment = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = os.path.relpath(path, root)
            if not os.path.exists(dest):
                found.append(f"{where}: link to {target}: no file {os.path.relpath(dest, root)}")
                continue
            if fragment and dest.endswith(".md"):
                with open(dest) as f:
                    if fragment not in anchors(f.read()):
                        found.append(f"{where}: link to {target}: no heading #{fragment} in "
                                     f"{os.path.relpath(dest, root)}")
    return found


def self_test():
    assert slug("2.3 Self-managed and other clusters: publish the service-account issuer") == \
        "23-self-managed-and-other-clusters-publish-the-service-account-issuer"
    assert slug("Can I use upstream's Helm chart with azwi's images?") == \
        "can-i-use-upstreams-helm-chart-with-azwis-images"
    assert slug("NET_ADMIN denied by a policy") == "net_admin-denied-by-a-policy"
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "a.md"), "w") as f:
            f.write("# A\n## Good one\n[ok](#good-one) [ok](b.md) [bad](#gone) [bad](c.md) `[no](x.md)`\n"
                    "```\n[no](y.md)\n```\n[web](https://example.com/x)\n")
        with open(os.path.join(d, "b.md"), "w") as f:
            f.write("# B\n")
        found = problems(d, [os.path.join(d, "a.md")])
        assert len(found) == 2 and "#gone" in found[0] and "c.md" in found[1], found
    print("self-test passed")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1]
    files = [os.path.join(root, "README.md"), os.path.join(root, "CHANGELOG.md"),
             *sorted(glob.glob(os.path.join(root, "docs", "*.md")))]
    found = problems(root, files)
    with open(os.path.join(root, "README.md")) as f:
        linked = {os.path.normpath(os.path.join(root, t.partition("#")[0])) for t in links(f.read())}
    found += [f"README.md links no {os.path.relpath(p, root)} (its docs index should)"
              for p in files[2:] if os.path.normpath(p) not in linked]
    print("\n".join(found) if found else f"{len(files)} pages, every relative link resolves")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""What both soaks measure of the process under test: its resident memory and open descriptors, and the slope of a
series of samples."""
import os


def slope_per_minute(samples):
    """Least-squares slope of (t, v) in v per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in samples) / var if var else 0.0


def proc_sample(pid):
    """(VmRSS in KiB, open descriptors) of a process."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def rss_parts(pid):
    """(RssAnon, RssFile) in KiB: memory the process wrote, and pages of its binary and libraries it has run or read.
    The second grows the first time a code path runs (an error path during a fault) and is bounded by the files."""
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                parts[key] = int(value.split()[0])
    return parts.get("RssAnon", 0), parts.get("RssFile", 0)

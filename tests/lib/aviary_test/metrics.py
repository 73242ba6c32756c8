"""The Prometheus text exposition of the daemons' metrics endpoints."""

import re
import urllib.request

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
TYPE_LINE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)\s*$")


def fetch(url, timeout=10):
    """The body of an HTTP GET (the exposition of .../metrics)."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8")


def parse(text):
    """({(name, frozenset(label items)): value}, {family: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError(f"unparsable metrics line: {line!r}")
        samples[(m.group(1), frozenset(LABEL.findall(m.group(2) or "")))] = float(m.group(3))
    return samples, types


def parse_metrics(text):
    """{(name, frozenset(label items)): value}."""
    return parse(text)[0]


def metric(samples, name, **labels):
    """Sum of name's samples whose labels include `labels` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= set(l))


def by_label(samples, name, label):
    """{label value: sample value} of one family."""
    return {dict(l).get(label): v for (n, l), v in samples.items() if n == name}


def exported_names(text):
    """Every series name a Prometheus text exposition lets a query use:
    families, plus _bucket/_sum/_count of histograms and _sum/_count of
    summaries, plus any sample name seen."""
    names = set()
    for line in text.splitlines():
        m = TYPE_LINE.match(line)
        if m:
            name, kind = m.groups()
            names.add(name)
            if kind == "histogram":
                names.update({name + "_bucket", name + "_sum", name + "_count"})
            elif kind == "summary":
                names.update({name + "_sum", name + "_count"})
            continue
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            names.add(m.group(1))
    return names


def sample_total(text, name):
    """Sum of the samples of `name` in an exposition (0 if there are none)."""
    return sum(v for (n, _l), v in parse_metrics(text).items() if n == name)

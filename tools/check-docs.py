#!/usr/bin/python3
"""check-docs.py - docs/configuration.md names every key the config loader reads.

Usage: check-docs.py SOURCE_DIR

The loader (common/config*.cpp) lists each table's keys once, as
`const Key <section>_keys[] = { {"name", ...}, ... };`. Every key found
there must have a row in one of docs/configuration.md's tables, starting
"| `section.name` |" (top-level keys "| `name` |"), each section a
"## [section]" heading, and every key such a row names must be one the
loader knows, so that the page neither misses a new key nor keeps a
removed one. Exits 1 and lists
the differences otherwise.
"""

import re
import sys
from pathlib import Path

TABLE = re.compile(r"const\s+Key\s+(\w+)_keys\s*\[\s*\]\s*=\s*\{(.*?)\n\};", re.S)
ENTRY = re.compile(r'\{\s*"([A-Za-z0-9_]+)"\s*,')
DOCUMENTED_ROW = re.compile(r"^\|\s*`([a-z0-9_.]+)`\s*\|", re.M)


def loader_keys(source):
    """Dotted keys of the loader's tables; the section tables themselves are left out."""
    keys = set()
    sections = set()
    for path in sorted((source / "common").glob("config*.cpp")):
        for table in TABLE.finditer(path.read_text()):
            section = table.group(1)
            names = ENTRY.findall(table.group(2))
            if section == "top_level":
                keys.update(names)
            else:
                sections.add(section)
                keys.update(f"{section}.{name}" for name in names)
    return keys - sections, sections


def main(argv):
    if len(argv) != 2:
        print("usage: check-docs.py SOURCE_DIR", file=sys.stderr)
        return 2
    source = Path(argv[1])
    doc_path = source / "docs" / "configuration.md"
    keys, sections = loader_keys(source)
    if not keys:
        print("check-docs.py: no `const Key <section>_keys[]` tables found in common/config*.cpp", file=sys.stderr)
        return 1
    doc = doc_path.read_text()

    documented = set(DOCUMENTED_ROW.findall(doc))
    problems = []
    for key in sorted(keys - documented):
        problems.append(f"{doc_path}: has no table row for `{key}` (read by common/config.cpp)")
    for section in sorted(sections):
        if not re.search(rf"^#+ \[{re.escape(section)}\]", doc, re.M):
            problems.append(f"{doc_path}: has no section heading [{section}]")
    for key in sorted(documented - keys):
        problems.append(f"{doc_path}: documents `{key}`, which common/config.cpp does not accept")

    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"check-docs.py: {len(keys)} keys in {len(sections)} sections, all documented")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/python3
"""check-layers.py - fail when a file includes a header from a layer above its own.

The layers, bottom up (docs/architecture.md):
  common/   no Asio, no storage, no LMDB
  storage/  the Store interface; LMDB only under storage/lmdb/
  service/  Asio connections, listeners, TLS, the authenticator, the daemon runtime
  relay/, pop3d/   siblings: neither includes the other
  smtpd/    the receiving side; it runs the relay, so it may include relay/
  tools/    aviaryctl, the load generators, the benchmarks

Usage: check-layers.py [REPO]     exit 1 and one line per violation
       check-layers.py --self-test
"""

import re
import sys
import tempfile
from pathlib import Path

RANK = {"common": 0, "storage": 1, "service": 2, "relay": 3, "pop3d": 3, "smtpd": 4, "tools": 5}
# Above-or-beside includes that are allowed anyway: the daemon that hosts another layer.
ALLOWED = {("smtpd", "relay")}
# Headers of libraries a layer must not see, and the folders that may.
PRIVATE_HEADERS = [
    (re.compile(r"^asio[/.]"), ("service", "relay", "smtpd", "pop3d", "tools")),
    (re.compile(r"^lmdb\.h$"), ("storage/lmdb",)),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def violations(repo):
    found = []
    for layer in RANK:
        for path in sorted((repo / layer).rglob("*")):
            if path.suffix not in (".cpp", ".hpp", ".h"):
                continue
            rel = path.relative_to(repo).as_posix()
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, target = m.groups()
                where = f"{rel}:{number}"
                if kind == '"':
                    top = target.split("/", 1)[0]
                    if top not in RANK or top == layer or (layer, top) in ALLOWED:
                        continue
                    if RANK[top] >= RANK[layer]:
                        found.append(f"{where}: {layer}/ includes {target} from {top}/, which is not below it")
                    continue
                for pattern, allowed in PRIVATE_HEADERS:
                    if pattern.search(target) and not any(rel.startswith(a + "/") for a in allowed):
                        found.append(f"{where}: <{target}> is only for {', '.join(a + '/' for a in allowed)}")
    return found


def self_test():
    """The check must catch each kind of violation and pass a clean tree."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {
            "common/a.hpp": '#include <string>\n#include "common/b.hpp"\n',
            "storage/s.hpp": '#include "common/a.hpp"\n',
            "smtpd/x.cpp": '#include "relay/r.hpp"\n#include <asio/ip/tcp.hpp>\n',
            "relay/r.hpp": '#include "service/c.hpp"\n',
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        assert violations(root) == [], violations(root)
        bad = {
            "common/up.hpp": '#include "storage/s.hpp"\n',
            "common/asio.cpp": "#include <asio/post.hpp>\n",
            "relay/side.cpp": '#include "pop3d/p.hpp"\n',
            "service/lm.cpp": "#include <lmdb.h>\n",
            "storage/top.hpp": '  #  include "tools/t.hpp"\n',
        }
        for name, text in bad.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        got = violations(root)
        assert len(got) == len(bad), got
        for name in bad:
            assert any(v.startswith(name + ":1:") for v in got), (name, got)
    print("check-layers self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    found = violations(repo)
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} include(s) point up or sideways across layers", file=sys.stderr)
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())

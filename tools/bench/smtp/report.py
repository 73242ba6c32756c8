#!/usr/bin/env python3
# report.py - prints smtp_bench.sh's results (one JSON object per line) as a table.
import json
import sys

NAMES = {"aviary": "aviary-smtpd", "postfix": "postfix (virtual, Maildir)", "sink": "smtp-sink (stores nothing)"}


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    points = [r for r in rows if r.get("kind") == "load"]
    idle = [r for r in rows if r.get("kind") == "idle"]
    if points:
        print(f"{'server':<28} {'C':>4} {'msgs/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'accepted':>9} {'failed':>7} {'stored':>8}")
        for r in points:
            stored = r.get("stored")
            print(f"{NAMES.get(r['name'], r['name']):<28} {r['concurrency']:>4} {r['msgs_per_sec']:>9.1f} "
                  f"{r['p50_ms']:>8.2f} {r['p90_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.2f} "
                  f"{r['messages']:>9} {r['failures']:>7} {'-' if stored is None else stored:>8}"
                  + ("  SERVER DIED" if r.get("died") else "")
                  + ("  STORED != ACCEPTED" if stored is not None and stored != r["messages"] else ""))
        print("(latency: end of DATA to the 250; stored: messages that reached the mailboxes during the point,"
              " for Postfix once its queue drained)")
        rate = {(r["name"], r["concurrency"]): r["msgs_per_sec"] for r in points}
        for c in sorted({r["concurrency"] for r in points}):
            a = rate.get(("aviary", c))
            if a is None:
                continue
            parts = []
            if rate.get(("postfix", c)):
                parts.append(f"{a / rate[('postfix', c)]:.2f}x postfix")
            if rate.get(("sink", c)):
                parts.append(f"{a / rate[('sink', c)]:.2f}x smtp-sink")
            if parts:
                print(f"aviary-smtpd at C={c}: " + ", ".join(parts))
    for r in rows:
        if r.get("kind") == "peak":
            print(f"aviary-smtpd after the load: peak RSS (VmHWM) {r['vmhwm_kib'] / 1024:.1f} MiB; now "
                  f"{r['rss_anon_kib'] / 1024:.1f} MiB anonymous + {r['rss_file_kib'] / 1024:.1f} MiB file-backed"
                  " (the LMDB map)")
    for r in idle:
        before, after, n = r["rss_before_kib"], r["rss_after_kib"], r["connections"]
        print(f"{n} idle connections to aviary-smtpd: VmRSS {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB "
              f"(+{(after - before) / 1024:.1f} MiB, {(after - before) / max(n, 1):.1f} KiB each); "
              f"{r['open']} open, {r['failed']} failed")


if __name__ == "__main__":
    main(sys.argv[1])

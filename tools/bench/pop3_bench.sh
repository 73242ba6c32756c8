#!/usr/bin/env bash
# pop3_bench.sh - measures aviary-pop3d and a private Dovecot with aviary-pop3load
# (issue 4, "Benchmark"), and the RSS that one slow RETR of a 30 MiB message adds.
#
# Both servers hold the same messages: N users x M messages of S bytes, Aviary's
# delivered through aviary-smtpd, Dovecot's written straight into Maildir/cur.
# Everything runs on loopback ports picked at start, in a temporary directory
# removed at the end (--keep keeps it). Dovecot is a private instance
# (`dovecot -c FILE`) whose passwords are Argon2id with Aviary's parameters
# (19 MiB, 2 passes) when libsodium is there. Needs root (Dovecot does) and
# the dovecot-pop3d package (tools/install-bench-deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
  cat <<EOF
usage: $0 [options]
  --build DIR       build directory with bin/ (default: $repo/build)
  --servers LIST    any of: aviary dovecot (default: "aviary dovecot")
  --users LIST      concurrent users per point (default: "1 20"); the most is the mailboxes made
  --messages M      messages per mailbox (default: 500)
  --size BYTES      message size, headers included (default: 4096)
  --rounds R        logins per user in a measured point (default: 1)
  --repeat K        measured runs per point, the best one reported (default: 3)
  --threads T       aviary-pop3load threads (default: 1)
  --big MIB         size of the RSS test's message, 0 to skip (default: 30)
  --out FILE        also write the results, one JSON object per line
  --keep            keep the work directory (stores, logs, configs)
EOF
}

build="$repo/build"
servers="aviary dovecot"
user_points="1 20"
messages=500
size=4096
rounds=1
repeat=3
threads=1
big_mib=30
out=""
keep=0

# Bounded: every pass shifts at least one argument.
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --users) user_points=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --big) big_mib=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$0: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "pop3_bench: $*" >&2; }
die() { say "$*"; exit 1; }
# stop_pid, free_ports, wait_port
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root (the private Dovecot instance needs it)"
pop3load="$build/bin/aviary-pop3load"
pop3d="$build/bin/aviary-pop3d"
smtpd="$build/bin/aviary-smtpd"
aviaryctl="$build/bin/aviaryctl"
[[ -x "$pop3load" ]] || die "no $pop3load: build first (cmake -S $repo -B $build -G Ninja && ninja -C $build)"
for s in $servers; do
  case "$s" in
    aviary) for b in "$pop3d" "$smtpd" "$aviaryctl"; do [[ -x "$b" ]] || die "no $b: build first"; done ;;
    dovecot) command -v dovecot >/dev/null && [[ -x /usr/lib/dovecot/pop3 ]] ||
      die "no dovecot-pop3d: run tools/install-bench-deps.sh (or apt-get install -y dovecot-pop3d)" ;;
    *) die "unknown server '$s' (aviary, dovecot)" ;;
  esac
done
users=0
for u in $user_points; do if ((u > users)); then users=$u; fi; done
((users >= 1)) || die "--users needs at least one positive count"

work=$(mktemp -d "${TMPDIR:-/tmp}/aviary-pop3-bench.XXXXXX")
chmod 755 "$work"  # Dovecot's unprivileged processes must reach the files below it
results="$work/results.jsonl"
: >"$results"

smtpd_pid=""
pop3d_pid=""
dovecot_started=0

stop_dovecot() {
  [[ $dovecot_started -eq 1 ]] || return 0
  dovecot_started=0
  local master_pid i
  master_pid=$(cat "$work/dovecot/run/master.pid" 2>/dev/null || true)
  dovecot -c "$work/dovecot/dovecot.conf" stop >/dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    [[ -n "$master_pid" ]] && kill -0 "$master_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$master_pid" ]] && kill -KILL "$master_pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$pop3d_pid" 10
  stop_pid "$smtpd_pid" 10
  stop_dovecot
  if [[ $keep -eq 1 ]]; then
    say "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r pop3_port smtp_port dovecot_port <<<"$(free_ports 3)"
password="bench-password"

# The messages, the same bytes for both servers: message i of user u, CRLF
# lines of 76 characters, padded to --size octets.
cat >"$work/messages.py" <<'EOF'
def message(user, i, size):
    head = (f"From: loadgen@bench.test\r\nTo: {user}\r\nSubject: bench {i}\r\n"
            f"Message-ID: <{i}.{user}@bench.test>\r\n\r\n")
    body = []
    left = size - len(head)
    line = 0
    while left > 0:
        text = f"{line:06d} " + "x" * 67
        text = text[:max(0, min(74, left - 2))]
        body.append(text + "\r\n")
        left -= len(text) + 2
        line += 1
    return (head + "".join(body)).encode()
EOF

# --- Aviary ------------------------------------------------------------------
setup_aviary() {
  local dir="$work/aviary" i
  mkdir -p "$dir/store"
  cat >"$dir/aviary.toml" <<EOF
# aviary.toml - the aviary-pop3d and aviary-smtpd that pop3_bench.sh measures.
hostname = "bench.test"

[storage]
path = "$dir/store"
map_size = "2GiB"

[smtpd]
listen = ["127.0.0.1:$smtp_port"]
submission = []
submissions = []
metrics = ""
max_connections_per_ip = 1000
max_message_size = "40MiB"

[pop3d]
listen = ["127.0.0.1:$pop3_port"]
tls_listen = []
allow_plaintext_auth = true
metrics = ""
max_connections_per_ip = 1000

# Realistic login cost: what aviaryctl stores is what PASS verifies.
[password]
memory = "19MiB"
iterations = 2
EOF
  say "aviary: creating $users users and big@bench.test"
  "$aviaryctl" -c "$dir/aviary.toml" domain add bench.test >/dev/null
  for ((i = 1; i <= users; i++)); do
    printf '%s\n' "$password" | "$aviaryctl" -c "$dir/aviary.toml" user add "u$i@bench.test" --password-stdin >/dev/null
  done
  printf '%s\n' "$password" | "$aviaryctl" -c "$dir/aviary.toml" user add big@bench.test --password-stdin >/dev/null

  "$smtpd" -c "$dir/aviary.toml" >"$dir/smtpd.log" 2>&1 &
  smtpd_pid=$!
  wait_port "$smtp_port" aviary-smtpd
  say "aviary: delivering $((users * messages)) messages of $size octets through aviary-smtpd"
  python3 - "$work" "$smtp_port" "$users" "$messages" "$size" "$big_mib" <<'EOF'
import smtplib, sys, threading
sys.path.insert(0, sys.argv[1])
from messages import message
port, users, per_user, size, big_mib = map(int, sys.argv[2:])
jobs = [(u, i) for i in range(1, per_user + 1) for u in range(1, users + 1)]
errors = []

def worker(part):
    # A fresh connection every 100 messages, 4 connections at once.
    for start in range(0, len(part), 100):
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            for u, i in part[start:start + 100]:
                rcpt = f"u{u}@bench.test"
                try:
                    s.sendmail("loadgen@bench.test", [rcpt], message(rcpt, i, size))
                except smtplib.SMTPException as e:
                    errors.append(str(e))

threads = [threading.Thread(target=worker, args=(jobs[k::4],)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
if big_mib > 0:
    with smtplib.SMTP("127.0.0.1", port, timeout=600) as s:
        s.sendmail("loadgen@bench.test", ["big@bench.test"], message("big@bench.test", 1, big_mib << 20))
if errors:
    sys.exit(f"{len(errors)} messages refused, first: {errors[0]}")
EOF
  local n
  for ((i = 1; i <= users; i++)); do
    n=$("$aviaryctl" -c "$dir/aviary.toml" --json mailbox stat "u$i@bench.test" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])')
    [[ "$n" -eq "$messages" ]] || die "aviary: u$i@bench.test holds $n messages, not $messages"
  done
  stop_pid "$smtpd_pid" 10
  smtpd_pid=""

  "$pop3d" -c "$dir/aviary.toml" >"$dir/pop3d.log" 2>&1 &
  pop3d_pid=$!
  wait_port "$pop3_port" aviary-pop3d
}

# --- Dovecot -----------------------------------------------------------------
# hash_password - Argon2id with Aviary's parameters through libsodium, else
# Dovecot's own ARGON2ID, else SHA512-CRYPT. Sets $hash and $scheme.
hash_password() {
  if hash=$(python3 - "$password" <<'EOF' 2>/dev/null
import ctypes, ctypes.util, sys
lib = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
if lib.sodium_init() < 0: sys.exit(1)
out = ctypes.create_string_buffer(128)
pw = sys.argv[1].encode()
# crypto_pwhash_ALG_ARGON2ID13 = 2; opslimit 2, memlimit 19 MiB as aviaryctl.
if lib.crypto_pwhash_str_alg(out, pw, ctypes.c_ulonglong(len(pw)), ctypes.c_ulonglong(2),
                             ctypes.c_size_t(19 << 20), ctypes.c_int(2)) != 0: sys.exit(1)
print("{ARGON2ID}" + out.value.decode())
EOF
  ); then
    scheme="ARGON2ID (libsodium, m=19 MiB, t=2, as Aviary)"
  elif hash=$(doveadm pw -s ARGON2ID -p "$password" 2>/dev/null); then
    scheme="ARGON2ID (doveadm pw defaults)"
  else
    hash=$(doveadm pw -s SHA512-CRYPT -p "$password")
    scheme="SHA512-CRYPT (no Argon2id here)"
  fi
}

setup_dovecot() {
  local dir="$work/dovecot" uid gid i
  # A system Dovecot would hold the default ports and base_dir: make sure none runs.
  if [[ -f /run/dovecot/master.pid ]] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    say "dovecot: stopping the system instance"
    service dovecot stop >/dev/null 2>&1 || kill -TERM "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
  fi
  # Dovecot refuses uid 0 for mail: a dedicated system user owns the Maildirs.
  id benchmail >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin benchmail
  uid=$(id -u benchmail)
  gid=$(id -g benchmail)
  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  hash_password
  say "dovecot: password scheme $scheme"
  : >"$dir/passwd"
  for ((i = 1; i <= users; i++)); do
    echo "u$i@bench.test:$hash:$uid:$gid::$dir/mail/u$i::" >>"$dir/passwd"
  done
  chmod 644 "$dir/passwd"

  say "dovecot: writing $((users * messages)) messages into Maildir/cur"
  python3 - "$work" "$dir/mail" "$users" "$messages" "$size" <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[1])
from messages import message
root = sys.argv[2]
users, per_user, size = map(int, sys.argv[3:])
now = int(time.time())
for u in range(1, users + 1):
    user = f"u{u}@bench.test"
    for sub in ("cur", "new", "tmp"):
        os.makedirs(f"{root}/u{u}/Maildir/{sub}", exist_ok=True)
    for i in range(1, per_user + 1):
        # Maildir stores LF; S= is that size, W= the CRLF size POP3 sends.
        data = message(user, i, size).replace(b"\r\n", b"\n")
        crlf = len(data) + data.count(b"\n")
        name = f"{now}.M{i}P{os.getpid()}.bench,S={len(data)},W={crlf}:2,S"
        with open(f"{root}/u{u}/Maildir/cur/{name}", "wb") as f:
            f.write(data)
EOF
  chown -R "$uid:$gid" "$dir/mail"

  cat >"$dir/dovecot.conf" <<EOF
# dovecot.conf - the private Dovecot that pop3_bench.sh measures.
instance_name = aviary-bench
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $uid
last_valid_uid = $uid
mail_location = maildir:$dir/mail/%n/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {
  driver = passwd-file
  args = $dir/passwd
}
userdb {
  driver = passwd-file
  args = $dir/passwd
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $dovecot_port
  }
  inet_listener pop3s {
    port = 0
  }
}
EOF
  dovecot -c "$dir/dovecot.conf"
  dovecot_started=1
  wait_port "$dovecot_port" dovecot
}

# --- measuring ---------------------------------------------------------------
# run_point SERVER PORT USERS - the best of --repeat runs; prints its JSON line.
run_point() {
  local server=$1 port=$2 n=$3 k line best="" best_rate=-1 rate
  for ((k = 0; k < repeat; k++)); do
    line=$("$pop3load" --server "127.0.0.1:$port" --users "$n" --password "$password" \
      --rounds "$rounds" --expect "$messages" --threads "$threads" --json 2>>"$work/pop3load.log") ||
      die "$server, $n users: aviary-pop3load reported failures (see $work/pop3load.log; --keep keeps it)"
    rate=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["msgs_per_sec"])' "$line")
    if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$rate" "$best_rate"; then
      best=$line
      best_rate=$rate
    fi
  done
  python3 -c 'import json, sys; o = json.loads(sys.argv[1]); o["target"] = sys.argv[2]; print(json.dumps(o))' \
    "$best" "$server" >>"$results"
}

# rss_test - VmRSS and RssAnon of aviary-pop3d before, during and after one
# client RETRs the big message reading 64 KiB every 5 ms.
rss_test() {
  python3 - "$pop3_port" "$pop3d_pid" "$password" <<'EOF'
import socket, sys, time
port, pid, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def rss():
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                vals[k] = int(v.split()[0])
    return vals

s = socket.create_connection(("127.0.0.1", port), timeout=60)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
f = s.makefile("rb")
def cmd(line):
    s.sendall(line.encode() + b"\r\n")
    reply = f.readline()
    if not reply.startswith(b"+OK"): sys.exit(f"{line.split()[0]}: {reply!r}")
    return reply
f.readline()
cmd("USER big@bench.test")
cmd(f"PASS {password}")
cmd("STAT")
time.sleep(0.5)
before = rss()
cmd("RETR 1")
peak = dict(before)
got, tail = 0, b""
while True:
    chunk = f.read1(64 * 1024)
    if not chunk: sys.exit("connection closed during RETR")
    got += len(chunk)
    tail = (tail + chunk)[-5:]
    now = rss()
    for k in now: peak[k] = max(peak[k], now[k])
    if tail == b"\r\n.\r\n": break
    time.sleep(0.005)
cmd("QUIT")
time.sleep(0.5)
after = rss()
mib = lambda kib: kib / 1024
print(f"RETR of {got / 1048576:.1f} MiB (slow reader): VmRSS {mib(before['VmRSS']):.1f} MiB before, "
      f"peak {mib(peak['VmRSS']):.1f} (+{mib(peak['VmRSS'] - before['VmRSS']):.2f}), "
      f"after {mib(after['VmRSS']):.1f}; RssAnon peak +{mib(peak['RssAnon'] - before['RssAnon']):.2f} MiB, "
      f"RssFile peak +{mib(peak['RssFile'] - before['RssFile']):.2f} MiB (target: under 2 MiB added)")
EOF
}

for s in $servers; do
  case "$s" in
    aviary) setup_aviary ;;
    dovecot) setup_dovecot ;;
  esac
done

for s in $servers; do
  case "$s" in
    aviary) port=$pop3_port ;;
    dovecot) port=$dovecot_port ;;
  esac
  # One unmeasured pass: Dovecot builds its indexes, both warm the page cache.
  say "$s: warm-up pass, $users users"
  "$pop3load" --server "127.0.0.1:$port" --users "$users" --password "$password" \
    --expect "$messages" --threads "$threads" >>"$work/pop3load.log" 2>&1 ||
    die "$s: warm-up failed (see $work/pop3load.log; --keep keeps it)"
  for n in $user_points; do
    say "$s: $n users x $messages messages, best of $repeat"
    run_point "$s" "$port" "$n"
  done
done

echo
printf '%-8s %6s %9s %10s %8s %9s %9s\n' server users messages msgs/s MB/s p50_ms p99_ms
python3 - "$results" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    print(f"{o['target']:<8} {o['users']:>6} {o['messages']:>9} {o['msgs_per_sec']:>10.0f} "
          f"{o['mb_per_sec']:>8.2f} {o['p50_ms']:>9.3f} {o['p99_ms']:>9.3f}")
rows = [json.loads(l) for l in open(sys.argv[1])]
top = max(r["users"] for r in rows)
rate = {r["target"]: r["msgs_per_sec"] for r in rows if r["users"] == top}
if "aviary" in rate and "dovecot" in rate and rate["dovecot"] > 0:
    ratio = rate["aviary"] / rate["dovecot"]
    print(f"\nat {top} users: aviary / dovecot = {ratio:.2f}x messages/s (target: at least 2x)")
EOF
[[ -n "${scheme:-}" ]] && echo "dovecot passwords: $scheme"

if [[ " $servers " == *" aviary "* && "$big_mib" -gt 0 ]]; then
  echo
  rss_test
fi
[[ -z "$out" ]] || cp "$results" "$out"

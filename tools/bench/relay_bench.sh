#!/usr/bin/env bash
# relay_bench.sh - relay throughput (issue 6, "Benchmark"): messages/s from
# submission at a sending relay to delivery in the mailboxes of a second
# aviary-smtpd, with aviary-smtpd as the sending relay and with a private
# Postfix as the sending relay.
#
# Three servers on loopback ports picked at start:
#   B  aviary-smtpd hosting b.bench.test (u1..uN), the destination, STARTTLS offered;
#   A  aviary-smtpd hosting a.bench.test, whose aliases fI@a.bench.test point at
#      uI@b.bench.test, and relay.routes = { "b.bench.test" = B };
#   P  a private Postfix (`postfix -c DIR`) relaying b.bench.test to B
#      (transport_maps), opportunistic STARTTLS, default queue durability.
# aviary-loadgen submits --messages messages of --size over --concurrency
# sessions (one message per connection) to A's port-25 listener (recipients
# fI@a.bench.test, so that every message is relayed: aviary-loadgen speaks
# no AUTH, and the submission listener would add AUTH and TLS to the
# client's cost, not the relay's) or to P (recipients uI@b.bench.test). The
# clock runs from the start of aviary-loadgen until `aviaryctl --json`
# user list at B counts every message (polled every 0.2 s; bounded by --timeout).
#
# Everything runs in a temporary directory that is removed at the end
# (--keep keeps it). Needs root for Postfix (--senders aviary runs without).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
  cat <<EOF
usage: $0 [options]
  --build DIR          build directory with bin/ (default: $repo/build)
  --senders LIST       any of: aviary postfix (default: "aviary postfix")
  --messages N         messages per run (default: 2000)
  --concurrency C      concurrent submitting sessions (default: 20)
  --size SIZE          message size (default: 4KiB)
  --users N            destination mailboxes u1..uN@b.bench.test (default: 5)
  --timeout S          most seconds to wait for every message to arrive (default: 600)
  --connections N      A's relay.connections_per_destination (default: the daemon's;
                       Postfix's default_destination_concurrency_limit is 20)
  --keep               keep the work directory (stores, logs, configs)
EOF
}

build="$repo/build"
senders="aviary postfix"
messages=2000
concurrency=20
size=4KiB
users=5
timeout=600
connections=""
keep=0

# Bounded: every pass shifts at least one argument.
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --senders) senders=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$0: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "relay_bench: $*" >&2; }
die() { say "$*"; exit 1; }
# stop_pid, free_ports, wait_port
source "$here/lib.sh"

loadgen="$build/bin/aviary-loadgen"
smtpd="$build/bin/aviary-smtpd"
aviaryctl="$build/bin/aviaryctl"
for p in "$loadgen" "$smtpd" "$aviaryctl"; do
  [[ -x "$p" ]] || die "no $p: build first (cmake -S $repo -B $build -G Ninja && ninja -C $build)"
done
for s in $senders; do
  case "$s" in
    aviary) ;;
    postfix)
      [[ $(id -u) -eq 0 ]] || die "--senders postfix needs root (the private Postfix instance does)"
      command -v postfix >/dev/null || die "no postfix: run tools/install-bench-deps.sh" ;;
    *) die "unknown sender '$s' (aviary, postfix)" ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/aviary-relay-bench.XXXXXX")
chmod 755 "$work"  # Postfix's unprivileged daemons must reach the queue below it
a_pid=""
b_pid=""
postfix_started=0

stop_postfix() {
  [[ $postfix_started -eq 1 ]] || return 0
  postfix_started=0
  stop_postfix_instance "$work/postfix/etc" "$work/postfix/queue"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$a_pid" 10
  stop_pid "$b_pid" 10
  stop_postfix
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

read -r a_port b_port postfix_port <<<"$(free_ports 3)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj "/CN=bench.test" \
  -addext "subjectAltName=DNS:mail.a.bench.test,DNS:mail.b.bench.test,IP:127.0.0.1" >/dev/null 2>&1 ||
  die "openssl could not make a certificate"

# aviary_config NAME PORT RELAY - an aviary.toml on 127.0.0.1:PORT with relay settings RELAY.
aviary_config() {
  local dir="$work/$1"
  mkdir -p "$dir/store"
  cat >"$dir/aviary.toml" <<EOF
hostname = "mail.$1.bench.test"

[storage]
path = "$dir/store"
map_size = "8GiB"

[tls]
certificate = "$work/cert.pem"
private_key = "$work/key.pem"

[smtpd]
listen = ["127.0.0.1:$2"]
submission = []
submissions = []
metrics = ""
max_connections = 5000
max_connections_per_ip = 5000
shutdown_timeout = "5s"

[pop3d]
listen = []
tls_listen = []
metrics = ""

[relay]
$3

# Only aviaryctl hashes passwords here; keep user creation fast.
[password]
memory = "1MiB"
iterations = 1
EOF
}

ctl() { local name=$1; shift; "$aviaryctl" -c "$work/$name/aviary.toml" "$@"; }

start_smtpd() {  # NAME PORT -> pid in $started_pid
  "$smtpd" -c "$work/$1/aviary.toml" >>"$work/$1/smtpd.log" 2>&1 &
  started_pid=$!
  wait_port "$2" "aviary-smtpd $1"
}

# delivered - messages in all b.bench.test mailboxes (one aviaryctl call per poll).
delivered() {
  ctl b --json user list b.bench.test | grep -o '"messages": *[0-9]*' | awk -F: '{s += $2} END {print s + 0}'
}

now() { date +%s.%N; }

# --- B, the destination --------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
aviary_config b "$b_port" 'retry = ["1s"]'
ctl b domain add b.bench.test >/dev/null
for ((i = 1; i <= users; i++)); do
  printf 'bench-password\n' | ctl b user add "u$i@b.bench.test" --password-stdin >/dev/null
done
start_smtpd b "$b_port"
b_pid=$started_pid

# --- A, aviary-smtpd as the sending relay --------------------------------------
start_a() {
  aviary_config a "$a_port" "routes = { \"b.bench.test\" = \"127.0.0.1:$b_port\" }
retry = [\"1s\"]
max_queue_time = \"1h\"${connections:+
connections_per_destination = $connections}"
  ctl a domain add a.bench.test >/dev/null
  for ((i = 1; i <= users; i++)); do ctl a alias add "f$i@a.bench.test" "u$i@b.bench.test" >/dev/null; done
  start_smtpd a "$a_port"
  a_pid=$started_pid
}

# --- P, Postfix as the sending relay -------------------------------------------
start_postfix() {
  local dir="$work/postfix"
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data"
  chown postfix "$dir/data"
  cat >"$dir/etc/main.cf" <<EOF
compatibility_level = 3.6
myhostname = postfix.bench.local
mydomain = bench.local
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = loopback-only
inet_protocols = ipv4
relayhost =
queue_directory = $dir/queue
data_directory = $dir/data
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
mail_owner = postfix
setgid_group = postdrop
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
readme_directory = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_process_limit = 200
transport_maps = texthash:$dir/etc/transport
smtp_tls_security_level = may
smtpd_tls_security_level = may
smtpd_tls_cert_file = $work/cert.pem
smtpd_tls_key_file = $work/key.pem
EOF
  cat >"$dir/etc/master.cf" <<EOF
127.0.0.1:$postfix_port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  echo "b.bench.test smtp:[127.0.0.1]:$b_port" >"$dir/etc/transport"
  postfix -c "$dir/etc" check
  postfix_started=1
  postfix -c "$dir/etc" start >/dev/null 2>&1 || die "postfix did not start; see $dir/maillog"
  wait_port "$postfix_port" postfix
}

# --- one run -------------------------------------------------------------------
rows=()

# run NAME PORT DOMAIN PREFIX - loadgen to 127.0.0.1:PORT, recipients PREFIX1..N@DOMAIN;
# appends "name messages submit_s end_to_end_s failures" to rows.
run() {
  local name=$1 port=$2 domain=$3 prefix=$4 recipients before target t0 t1 t2 json status=0 count i
  recipients=$(seq -f "$prefix%g@$domain" 1 "$users" | paste -sd, -)
  before=$(delivered)
  target=$((before + messages))
  say "$name: $messages messages of $size over $concurrency sessions"
  t0=$(now)
  json=$("$loadgen" --server "127.0.0.1:$port" --messages "$messages" --concurrency "$concurrency" \
    --per-connection 1 --size "$size" --to "$recipients" --timeout 60 --json) || status=$?
  t1=$(now)
  [[ -n "$json" ]] || die "aviary-loadgen printed nothing for $name"
  local ok failures
  ok=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["messages"])' "$json")
  failures=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["failures"])' "$json")
  [[ $status -eq 0 ]] || say "$name: aviary-loadgen exited $status ($failures failed)"
  target=$((before + ok))
  count=$before
  for ((i = 0; i < timeout * 5; i++)); do
    count=$(delivered)
    [[ $count -ge $target ]] && break
    sleep 0.2
  done
  t2=$(now)
  if [[ $count -lt $target ]]; then
    say "$name: only $((count - before)) of $ok messages arrived within $timeout s"
  fi
  rows+=("$name $ok $((count - before)) $t0 $t1 $t2 $failures")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "work directory $work; ports: A $a_port, B $b_port, Postfix $postfix_port"
for s in $senders; do
  case "$s" in
    aviary)
      start_a
      run aviary "$a_port" a.bench.test f
      left=$(ctl a --json queue list | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
      [[ $left -eq 0 ]] || say "aviary: $left entries still queued at A"
      stop_pid "$a_pid" 10
      a_pid=""
      ;;
    postfix)
      start_postfix
      run postfix "$postfix_port" b.bench.test u
      stop_postfix
      ;;
  esac
done

echo
echo "$(nproc) cores; $messages messages of $size, $concurrency concurrent submitters, one message per connection;" \
  "A's connections_per_destination: ${connections:-default}"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
printf '%-16s %9s %9s %9s %12s %13s %14s\n' "sending relay" accepted arrived submit_s "submit msg/s" end_to_end_s "end-to-end m/s"
bad=0
for row in "${rows[@]}"; do
  read -r name ok arrived t0 t1 t2 failures <<<"$row"
  python3 - "$name" "$ok" "$arrived" "$t0" "$t1" "$t2" <<'EOF'
import sys
name, ok, arrived = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, t1, t2 = (float(x) for x in sys.argv[4:7])
print(f"{name:<16} {ok:>9} {arrived:>9} {t1 - t0:>9.2f} {ok / (t1 - t0):>12.1f} {t2 - t0:>13.2f} {arrived / (t2 - t0):>14.1f}")
EOF
  [[ $failures -eq 0 && $arrived -eq $ok ]] || bad=1
done
# Non-zero when a message failed or did not arrive: the figures are suspect.
exit "$bad"

#!/usr/bin/env bash
# smtp_bench.sh - measures aviary-smtpd, a private Postfix and smtp-sink on this machine
# with aviary-loadgen (issue 3, "Benchmark"), and 1,000 idle connections' RSS.
#
# Everything runs on loopback ports picked at start, in a temporary directory
# that is removed at the end (--keep keeps it). Postfix is a private instance
# (`postfix -c DIR`), a virtual-mailbox host delivering to Maildir with its
# default fsync; smtp-sink stores nothing and shows the ceiling of this
# machine and client. Needs root (Postfix does) and tools/install-bench-deps.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
  cat <<EOF
usage: $0 [options]
  --build DIR          build directory with bin/ (default: $repo/build)
  --servers LIST       any of: aviary postfix sink (default: "aviary postfix sink")
  --concurrency LIST   concurrent sessions per point (default: "1 20 100")
  --seconds S          measured seconds per point (default: 10)
  --warmup S           unmeasured seconds before each point, 0 for none (default: 1)
  --messages N         most messages per point (default: 1000000)
  --size SIZE          message size (default: 4KiB)
  --per-connection K   messages per connection (default: 1, as in the issue)
  --pipelining         let the load generator pipeline MAIL/RCPT/DATA
  --users N            mailboxes u1..uN@bench.test, used in turn (default: 10)
  --idle N             idle connections for the RSS figure, 0 to skip (default: 1000)
  --out FILE           also write the results, one JSON object per line
  --keep               keep the work directory (stores, logs, configs)
EOF
}

build="$repo/build"
servers="aviary postfix sink"
concurrency="1 20 100"
seconds=10
warmup=1
messages=1000000
size=4KiB
per_connection=1
pipelining=""
users=10
idle=1000
out=""
keep=0

# Bounded: every pass shifts at least one argument.
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --per-connection) per_connection=$2; shift 2 ;;
    --pipelining) pipelining=--pipelining; shift ;;
    --users) users=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "$0: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "smtp_bench: $*" >&2; }
die() { say "$*"; exit 1; }
# stop_pid, free_ports, wait_port
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root (the private Postfix instance needs it)"
loadgen="$build/bin/aviary-loadgen"
smtpd="$build/bin/aviary-smtpd"
aviaryctl="$build/bin/aviaryctl"
[[ -x "$loadgen" ]] || die "no $loadgen: build first (cmake -S $repo -B $build -G Ninja && ninja -C $build)"
for s in $servers; do
  case "$s" in
    aviary) [[ -x "$smtpd" && -x "$aviaryctl" ]] || die "no $smtpd or $aviaryctl: build first, or --servers 'postfix sink'" ;;
    postfix) command -v postfix >/dev/null || die "no postfix: run tools/install-bench-deps.sh" ;;
    sink) command -v smtp-sink >/dev/null || die "no smtp-sink: run tools/install-bench-deps.sh" ;;
    *) die "unknown server '$s' (aviary, postfix, sink)" ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/aviary-bench.XXXXXX")
chmod 755 "$work"  # Postfix daemons (user postfix) must reach the queue below it
results="$work/results.jsonl"
: >"$results"

aviary_pid=""
sink_pid=""
idle_pid=""
postfix_started=0

stop_postfix() {
  [[ $postfix_started -eq 1 ]] || return 0
  postfix_started=0
  stop_postfix_instance "$work/postfix/etc" "$work/postfix/queue"
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pid "$idle_pid" 2
  stop_pid "$aviary_pid" 10
  stop_pid "$sink_pid" 2
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

read -r aviary_port postfix_port sink_port <<<"$(free_ports 3)"
recipients=$(seq -f "u%g@bench.test" 1 "$users" | paste -sd, -)

# --- aviary-smtpd ------------------------------------------------------------
start_aviary() {
  local dir="$work/aviary"
  mkdir -p "$dir/store"
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$aviary_port|g" "$here/smtp/aviary.toml.in" >"$dir/aviary.toml"
  "$aviaryctl" -c "$dir/aviary.toml" domain add bench.test >/dev/null
  local i
  for ((i = 1; i <= users; i++)); do
    printf 'bench-password\n' | "$aviaryctl" -c "$dir/aviary.toml" user add "u$i@bench.test" --password-stdin >/dev/null
  done
  # Room for --idle connections plus the load generator's.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  "$smtpd" -c "$dir/aviary.toml" >"$dir/smtpd.log" 2>&1 &
  aviary_pid=$!
  wait_port "$aviary_port" aviary-smtpd
}

# aviary_stored - messages in all u*@bench.test mailboxes.
aviary_stored() {
  local i total=0 n
  for ((i = 1; i <= users; i++)); do
    n=$("$aviaryctl" -c "$work/aviary/aviary.toml" --json mailbox stat "u$i@bench.test" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["messages"])') || return 1
    total=$((total + n))
  done
  echo "$total"
}

# --- Postfix -----------------------------------------------------------------
start_postfix() {
  local dir="$work/postfix" uid gid i
  uid=$(id -u nobody)
  gid=$(id -g nobody)
  mkdir -p "$dir/etc" "$dir/queue" "$dir/data" "$dir/mail"
  chown postfix "$dir/data"
  chown "$uid:$gid" "$dir/mail"
  sed -e "s|@DIR@|$dir|g" -e "s|@UID@|$uid|g" -e "s|@GID@|$gid|g" "$here/smtp/postfix-main.cf.in" >"$dir/etc/main.cf"
  sed -e "s|@LISTEN@|127.0.0.1:$postfix_port|g" "$here/smtp/postfix-master.cf.in" >"$dir/etc/master.cf"
  for ((i = 1; i <= users; i++)); do echo "u$i@bench.test bench.test/u$i/"; done >"$dir/etc/vmailbox"
  postmap -c "$dir/etc" "hash:$dir/etc/vmailbox"
  postfix -c "$dir/etc" check
  postfix_started=1
  postfix -c "$dir/etc" start >/dev/null 2>&1 || die "postfix did not start; see $dir/maillog"
  wait_port "$postfix_port" postfix
}

# postfix_wait_queue - until the queue is empty, 300 s at most, so that one
# point's deliveries do not slow the next.
postfix_wait_queue() {
  local q="$work/postfix/queue" i
  for ((i = 0; i < 3000; i++)); do
    [[ -z $(find "$q/maildrop" "$q/incoming" "$q/active" "$q/deferred" -type f -print -quit 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  say "postfix queue not empty after 300 s"
}

postfix_stored() {
  find "$work/postfix/mail" -path '*/new/*' -type f | wc -l
}

# --- smtp-sink ---------------------------------------------------------------
start_sink() {
  (cd "$work" && exec smtp-sink -u nobody "127.0.0.1:$sink_port" 1024) >"$work/smtp-sink.log" 2>&1 &
  sink_pid=$!
  wait_port "$sink_port" smtp-sink
}

# --- measuring ---------------------------------------------------------------
# alive NAME - whether that server's process is still there.
alive() {
  case "$1" in
    aviary) kill -0 "$aviary_pid" 2>/dev/null ;;
    sink) kill -0 "$sink_pid" 2>/dev/null ;;
    postfix) postfix -c "$work/postfix/etc" status >/dev/null 2>&1 ;;
  esac
}

server_log() {
  case "$1" in
    aviary) echo "$work/aviary/smtpd.log" ;;
    sink) echo "$work/smtp-sink.log" ;;
    postfix) echo "$work/postfix/maillog" ;;
  esac
}

# stored NAME - messages in the server's mailboxes so far ("null" for smtp-sink).
stored() {
  case "$1" in
    aviary) aviary_stored || echo null ;;
    postfix) postfix_wait_queue; postfix_stored ;;
    *) echo null ;;
  esac
}

# load NAME PORT C - one warm-up and one measured point; appends to $results.
# Returns 1 if the server died, after recording the point.
load() {
  local name=$1 port=$2 c=$3 json status=0 died=false before=null after=null
  local args=(--server "127.0.0.1:$port" --size "$size" --concurrency "$c" --per-connection "$per_connection"
    --to "$recipients" --timeout 60 $pipelining)
  if [[ $warmup != 0 ]]; then
    "$loadgen" "${args[@]}" --messages "$messages" --duration "$warmup" >/dev/null 2>&1 || true
  fi
  if alive "$name"; then
    before=$(stored "$name")
    say "$name C=$c: ${seconds} s"
    json=$("$loadgen" "${args[@]}" --messages "$messages" --duration "$seconds" --json) || status=$?
    [[ -n "$json" ]] || die "aviary-loadgen printed nothing for $name C=$c"
    [[ $status -eq 0 ]] || say "$name C=$c: some messages failed (see above)"
  else
    # It died in the warm-up: one attempt, so that the point shows as failed.
    json=$("$loadgen" "${args[@]}" --messages 1 --json 2>/dev/null) || true
  fi
  if alive "$name"; then
    after=$(stored "$name")
  else
    died=true
    say "$name died at C=$c; the end of $(server_log "$name"):"
    tail -5 "$(server_log "$name")" >&2 || true
  fi
  # "stored": what reached the mailboxes during the measured point (for
  # Postfix, once its queue has drained); it should equal "messages".
  local delta=null
  if [[ $before != null && $after != null ]]; then delta=$((after - before)); fi
  echo "$json" | sed -e "s/^{/{\"kind\":\"load\",\"name\":\"$name\",/" \
    -e "s/}\$/,\"stored\":$delta,\"died\":$died}/" >>"$results"
  [[ $died == false ]]
}

# idle_rss N - aviary-smtpd's VmRSS before and after N connections that read the banner.
idle_rss() {
  local n=$1 before after i line=""
  before=$(awk '/^VmRSS:/ {print $2}' "/proc/$aviary_pid/status")
  say "$n idle connections to aviary-smtpd"
  "$loadgen" --server "127.0.0.1:$aviary_port" --idle "$n" --concurrency 50 --hold 30 --timeout 20 \
    >"$work/idle.out" 2>"$work/idle.err" &
  idle_pid=$!
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 '^idle:' "$work/idle.out" 2>/dev/null || true)
    [[ -n "$line" ]] && break
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$line" ]] || die "idle connections did not open: $(cat "$work/idle.err")"
  sleep 1  # let the server finish whatever the banners started
  after=$(awk '/^VmRSS:/ {print $2}' "/proc/$aviary_pid/status")
  local open failed
  open=$(awk '{print $2}' <<<"$line")
  failed=$(awk '{print $4}' <<<"$line")
  stop_pid "$idle_pid" 2
  idle_pid=""
  echo "{\"kind\":\"idle\",\"connections\":$n,\"open\":$open,\"failed\":$failed,\"rss_before_kib\":$before,\"rss_after_kib\":$after}" >>"$results"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "work directory $work; ports: aviary $aviary_port, postfix $postfix_port, smtp-sink $sink_port"
say "load: $size messages, K=$per_connection per connection, to $users mailboxes, C in {$concurrency}"
for s in $servers; do
  case "$s" in
    aviary)
      start_aviary
      # Idle first, on a fresh daemon, so that the figure is what connections cost.
      if [[ $idle -gt 0 ]]; then idle_rss "$idle"; fi
      for c in $concurrency; do load aviary "$aviary_port" "$c" || break; done
      if kill -0 "$aviary_pid" 2>/dev/null; then
        awk '/^(VmHWM|RssAnon|RssFile):/ {v[$1] = $2}
          END {printf "{\"kind\":\"peak\",\"vmhwm_kib\":%d,\"rss_anon_kib\":%d,\"rss_file_kib\":%d}\n",
               v["VmHWM:"], v["RssAnon:"], v["RssFile:"]}' "/proc/$aviary_pid/status" >>"$results"
      fi
      stop_pid "$aviary_pid" 10
      aviary_pid=""
      ;;
    postfix)
      start_postfix
      for c in $concurrency; do load postfix "$postfix_port" "$c" || break; done
      stop_postfix
      ;;
    sink)
      start_sink
      for c in $concurrency; do load sink "$sink_port" "$c" || break; done
      stop_pid "$sink_pid" 2
      sink_pid=""
      ;;
  esac
done

echo
echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $size messages, $per_connection per connection${pipelining:+, pipelined}, ${seconds} s per point"
echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
python3 "$here/smtp/report.py" "$results"
if [[ -n "$out" ]]; then cp "$results" "$out"; fi
# Non-zero when a server died or any message failed: the figures are suspect.
python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(1 if any(r.get("died") or r.get("failures") or r.get("failed") for r in rows) else 0)' "$results"

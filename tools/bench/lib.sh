# lib.sh - what the benchmark scripts share: picking free loopback ports,
# waiting for a server to listen, stopping what they started. Sourced after
# the script defines say and die.

# stop_pid PID SECONDS - SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pid=$1 limit=$2 i
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# free_ports N - N loopback TCP ports that nothing listens on right now.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_port PORT WHAT - until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "$2 did not listen on 127.0.0.1:$1 within 10 s"
}

# stop_postfix_instance ETC QUEUE: stops a private Postfix (`postfix -c ETC`),
# waiting up to 10 s for its master, then aborts or kills it.
stop_postfix_instance() {
  local etc=$1 queue=$2 master_pid="" i
  master_pid=$(head -1 "$queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
  postfix -c "$etc" stop >/dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    [[ -n "$master_pid" ]] && kill -0 "$master_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -n "$master_pid" ]] && kill -0 "$master_pid" 2>/dev/null; then
    postfix -c "$etc" abort >/dev/null 2>&1 || kill -KILL "$master_pid" 2>/dev/null || true
  fi
}

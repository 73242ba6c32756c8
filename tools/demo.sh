#!/usr/bin/env bash
# demo.sh - build Aviary, make a demo setup under ./var/ and run both daemons
# on unprivileged loopback ports until Ctrl-C.
#
# Domains example.test and example.org, users alice@example.test and
# bob@example.org. The passwords are made on the first run and printed
# every time (kept in var/demo-passwords).
#
# The test of this script sets AVIARY_DEMO_DIR (instead of ./var) and
# AVIARY_BIN (programs already built: no install, no build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
var="${AVIARY_DEMO_DIR:-$root/var}"

if [[ -n "${AVIARY_BIN:-}" ]]; then
  bin="$AVIARY_BIN"
else
  tools/install-deps.sh
  cmake -S . -B build -G Ninja >/dev/null
  cmake --build build --target aviary-smtpd aviary-pop3d aviaryctl
  bin="$root/build/bin"
fi

mkdir -p "$var/tls"
chmod 700 "$var"
config="$var/aviary.toml"
if [[ ! -f "$config" ]]; then
  cat > "$config" <<TOML
# The demo configuration: loopback only, unprivileged ports.
hostname = "mail.example.test"

[storage]
path = "$var/store"
map_size = "1GiB"

[tls]
certificate = "$var/tls/fullchain.pem"
private_key = "$var/tls/privkey.pem"

[smtpd]
listen = ["127.0.0.1:2525"]
submission = ["127.0.0.1:2587"]
submissions = ["127.0.0.1:2465"]
metrics = "127.0.0.1:9101"

[pop3d]
listen = ["127.0.0.1:2110"]
tls_listen = ["127.0.0.1:2995"]
metrics = "127.0.0.1:9102"
TOML
fi

if [[ ! -f "$var/tls/fullchain.pem" ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=mail.example.test" \
    -addext "subjectAltName=DNS:mail.example.test,DNS:localhost,IP:127.0.0.1" \
    -keyout "$var/tls/privkey.pem" -out "$var/tls/fullchain.pem" 2>/dev/null
  chmod 600 "$var/tls/privkey.pem"
fi

ctl() { "$bin/aviaryctl" -c "$config" "$@"; }
if [[ ! -f "$var/demo-passwords" ]]; then
  ctl domain add example.test
  ctl domain add example.org
  : > "$var/demo-passwords"
  chmod 600 "$var/demo-passwords"
  for user in alice@example.test bob@example.org; do
    password=$(openssl rand -base64 12 | tr -d '/+=')
    printf '%s\n' "$password" | ctl user add "$user" --password-stdin
    printf '%s %s\n' "$user" "$password" >> "$var/demo-passwords"
  done
fi
alice_pw=$(awk '$1 == "alice@example.test" { print $2 }' "$var/demo-passwords")

"$bin/aviary-smtpd" -c "$config" &
smtpd=$!
"$bin/aviary-pop3d" -c "$config" &
pop3d=$!
trap 'kill -TERM $smtpd $pop3d 2>/dev/null; wait $smtpd $pop3d 2>/dev/null; exit 0' INT TERM
sleep 1

cat <<TEXT

Aviary is running (Ctrl-C stops it). Demo users and passwords:
$(sed 's/^/  /' "$var/demo-passwords")

Ports: SMTP 127.0.0.1:2525, submission 2587, submissions 2465,
       POP3 2110 (STLS), POP3S 2995, metrics :9101 (smtpd) and :9102 (pop3d).

Send alice a mail:
  swaks --server 127.0.0.1:2525 --from someone@example.net --to alice@example.test

Fetch it (POP3S, trusting the demo certificate):
  curl --cacert $var/tls/fullchain.pem -u 'alice@example.test:$alice_pw' pop3s://127.0.0.1:2995/1

Look at the metrics:
  curl -s 127.0.0.1:9101/metrics | grep ^aviary_

TEXT
wait $smtpd $pop3d

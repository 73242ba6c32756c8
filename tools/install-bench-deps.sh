#!/usr/bin/env bash
# install-bench-deps.sh - install what only tools/bench/smtp_bench.sh needs (Postfix).
#
# Postfix is preseeded to "No configuration" so that installing it sets up no
# system mail service; the benchmark runs its own private instance with
# `postfix -c DIR`. smtp-sink and smtp-source ship in the postfix package.
# As root it runs apt-get; otherwise it prints the exact command and stops.
set -euo pipefail

packages=(postfix dovecot-pop3d)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "The SMTP benchmark needs these Debian packages. Run as root:" >&2
  echo "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections" >&2
  echo "  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

# "No configuration": the package installs binaries but no main.cf, and the
# system instance does not start (Debian's postfix refuses to start without one).
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Belt and braces: on systemd or sysvinit hosts, make sure nothing runs.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now postfix >/dev/null 2>&1 || true
fi

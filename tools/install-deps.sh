#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages Aviary builds and tests with.
#
# As root it runs apt-get; otherwise it prints the exact command and stops.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libasio-dev liblmdb-dev lmdb-utils libssl-dev libargon2-dev libidn2-dev
  libgtest-dev libbenchmark-dev prometheus-cpp-dev libtomlplusplus-dev libcli11-dev
  libunbound-dev
  python3 python3-lmdb openssl curl swaks libnet-ssleay-perl prometheus clang libclang-rt-14-dev
  fetchmail getmail6 mpop
  dnsmasq-base postfix
  systemd dpkg-dev fakeroot lintian
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "Aviary needs these Debian packages. Run as root:" >&2
  echo "  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
# Postfix is a peer in the relay tests, run privately with `postfix -c DIR`:
# "No configuration" installs the binaries without a system mail service.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# dnsmasq-base and postfix start nothing; on a systemd host make sure of it.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl disable --now postfix >/dev/null 2>&1 || true
fi

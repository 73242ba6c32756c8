#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets with clang and run each for a while.
#
#   tools/fuzz.sh        60 seconds per target
#   tools/fuzz.sh 10     10 seconds per target
#
# Targets are tests/fuzz/<name>_fuzz.cpp; the committed seeds are in
# tests/fuzz/corpus/<name>/. Everything is built without CMake into
# build-fuzz/ (objects are reused while their sources and headers are
# unchanged); what the fuzzers learn goes to build-fuzz/corpus/<name>/ and
# crashing inputs to build-fuzz/artifacts/. Exits non-zero if any target
# finds a crash, a leak or a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2; }

CXX=${CXX:-clang++}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz.sh: $CXX not found (tools/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

out=build-fuzz
mkdir -p "$out/obj" "$out/artifacts"

# Library objects get coverage instrumentation but no libFuzzer main.
common_flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -I"$root" -Wall -Wextra)
lib_flags=("${common_flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined)
target_flags=("${common_flags[@]}" -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# What each target needs, and no more. The store is one library: all of
# storage/, and the common/ files it uses.
storage_sources=(storage/*.cpp storage/lmdb/*.cpp common/units.cpp common/header.cpp common/address.cpp)
data_reader_sources=(smtpd/data_reader.cpp)
smtp_command_sources=(
  smtpd/command_parser.cpp smtpd/commands.cpp smtpd/data_reader.cpp smtpd/message_buffer.cpp smtpd/metrics.cpp
  smtpd/reply.cpp
  common/log.cpp common/sasl.cpp
  "${storage_sources[@]}"
)
pop3_command_sources=(
  pop3d/commands.cpp pop3d/maildrop.cpp common/message_stream.cpp pop3d/reply.cpp
  common/log.cpp common/sasl.cpp
  "${storage_sources[@]}"
)
smtp_reply_sources=(
  relay/client_reply.cpp relay/dsn.cpp smtpd/delivery.cpp relay/host_name.cpp smtpd/message_buffer.cpp
  common/log.cpp
  "${storage_sources[@]}"
)
data_reader_libs=()
smtp_reply_libs=(-llmdb -lidn2 -pthread)
pop3_command_libs=(-llmdb -lidn2 -pthread)
smtp_command_libs=(-llmdb -lidn2 -lprometheus-cpp-core -pthread)

# up_to_date OBJ: the object exists and is newer than everything in its .d file.
up_to_date() {
  local obj=$1 dep=${1%.o}.d
  [[ -f "$obj" && -f "$dep" ]] || return 1
  local f
  for f in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$dep"); do
    [[ -f "$f" && "$f" -nt "$obj" ]] && return 1
  done
  return 0
}

# compile SOURCE: builds build-fuzz/obj/<path>.o in the background if needed.
pids=()
compile() {
  local src=$1 obj="$out/obj/${1%.cpp}.o"
  mkdir -p "$(dirname "$obj")"
  up_to_date "$obj" && return 0
  echo "  CXX $src"
  "$CXX" "${lib_flags[@]}" -MMD -MF "${obj%.o}.d" -c "$src" -o "$obj" &
  pids+=($!)
  # At most one compiler per core: this runs on small machines.
  if (( ${#pids[@]} >= $(nproc) )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
}

echo "fuzz.sh: building with $CXX"
for src in $(printf '%s\n' "${data_reader_sources[@]}" "${smtp_command_sources[@]}" "${pop3_command_sources[@]}" "${smtp_reply_sources[@]}" | sort -u); do
  compile "$src"
done
for pid in "${pids[@]}"; do wait "$pid"; done

link() {
  local name=$1; shift
  local -n sources=$1 libs=$2
  local objs=()
  for src in "${sources[@]}"; do objs+=("$out/obj/${src%.cpp}.o"); done
  echo "  LINK $out/${name}_fuzz"
  "$CXX" "${target_flags[@]}" "tests/fuzz/${name}_fuzz.cpp" "${objs[@]}" "${libs[@]}" -o "$out/${name}_fuzz"
}
link data_reader data_reader_sources data_reader_libs
link smtp_command smtp_command_sources smtp_command_libs
link pop3_command pop3_command_sources pop3_command_libs
link smtp_reply smtp_reply_sources smtp_reply_libs

status=0
for name in smtp_command data_reader pop3_command smtp_reply; do
  mkdir -p "$out/corpus/$name"
  echo "fuzz.sh: running ${name}_fuzz for ${seconds}s"
  log="$out/${name}.log"
  # Temporary stores go here, so that a crash leaves nothing in /tmp.
  rm -rf "$out/tmp" && mkdir -p "$out/tmp"
  ok=true
  TMPDIR="$root/$out/tmp" "$out/${name}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$out/artifacts/${name}-" \
    "$out/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1 || ok=false
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if $ok; then
    echo "fuzz.sh: ${name}_fuzz ok: ${execs:-?} executions, ${rate:-?} exec/s"
  else
    status=1
    echo "fuzz.sh: ${name}_fuzz FAILED after ${execs:-?} executions (log: $log)" >&2
    grep -E "invariant broken|ERROR: |SUMMARY: " "$log" | head -10 >&2 || true
    artifact=$(sed -n "s/.*Test unit written to //p" "$log" | tail -1)
    [[ -n "$artifact" ]] && echo "fuzz.sh: reproduce with: $out/${name}_fuzz $artifact" >&2
  fi
done
rm -rf "$out/tmp"
exit $status

#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite.
#
#   tools/test.sh              RelWithDebInfo build in build/
#   tools/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/
# Extra arguments after the mode go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cmake_args=()
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  build_dir=build-asan
  cmake_args+=(-DAVIARY_SANITIZE=ON -DAVIARY_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=Debug)
fi

tools/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}"
cmake --build "$build_dir"
cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" "$@"

#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test; then does the
# same under AddressSanitizer + UndefinedBehaviorSanitizer. What .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DBACKUP_TESTS=ON
(cd build && ctest --output-on-failure -j 2)
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DBACKUP_SANITIZE=ON -DBACKUP_TESTS=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2)

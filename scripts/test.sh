#!/usr/bin/env bash
# The whole test suite, what .ci/run calls: installs what is missing, then
#   1. builds (RelWithDebInfo) and runs every test;
#   2. checks formatting and clang-tidy (scripts/lint.sh);
#   3. builds and runs every test under AddressSanitizer + UndefinedBehaviorSanitizer (Debug);
#   4. builds and runs every test under ThreadSanitizer;
#   5. builds the container image's recipe (Release) and checks its runtime packages
#      (scripts/check-container.sh).
# Each step prints how long the run has taken so far.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { echo "== test.sh: $1 (at $((SECONDS - start)) s)"; }

bash scripts/install-deps.sh
step "build and test"
bash scripts/build.sh build -DBACKUP_TESTS=ON
(cd build && ctest --output-on-failure -j 2)

step "format and clang-tidy"
bash scripts/lint.sh build

step "AddressSanitizer + UndefinedBehaviorSanitizer"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DBACKUP_SANITIZE=address -DBACKUP_TESTS=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2)

step "ThreadSanitizer"
bash scripts/build.sh build-tsan -DBACKUP_SANITIZE=thread -DBACKUP_TESTS=ON
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$PWD/../tests/tsan.supp" \
  ctest --output-on-failure -j 2)

step "Release build of the container recipe"
bash scripts/check-container.sh
step "done"

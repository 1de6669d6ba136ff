#!/usr/bin/env bash
# Format and static checks on our own code: the tree must be formatted with .clang-format,
# and clang-tidy (.clang-tidy) must find nothing in any translation unit.
#   scripts/lint.sh [BUILD_DIR]   (default build/, which must have been configured: it
#                                  provides compile_commands.json and the generated protos)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mapfile -t sources < <(git ls-files '*.cc' '*.h')
echo "lint: clang-format on ${#sources[@]} files"
clang-format --dry-run --Werror "${sources[@]}"
echo "lint: clang-tidy"
log=$(mktemp)
if ! run-clang-tidy -quiet -p "$build" -j "$(nproc)" \
    "$(pwd)/(cli|common|control|policy|server|storage|tests|worker)/.*\.cc$" >"$log" 2>&1; then
  grep -E "(warning|error):" "$log" | sort -u >&2 || cat "$log" >&2
  rm -f "$log"
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
rm -f "$log"
echo "lint: clean"

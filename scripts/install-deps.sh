#!/usr/bin/env bash
# Installs the Debian 12 packages Collector Backup builds and runs with, if any is missing.
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config sqlite3 libsqlite3-dev libgrpc++-dev libprotobuf-dev
  protobuf-compiler protobuf-compiler-grpc libasio-dev libspdlog-dev libexpected-dev libssl-dev
  libcli11-dev libgtest-dev libgmock-dev clang-format clang-tidy openssl
  libcurl4-openssl-dev libxml2-dev libzstd-dev libsodium-dev libarchive-dev python3-botocore
  libhowardhinnant-date-dev libabsl-dev tzdata prometheus libcpp-httplib-dev chromium libpq-dev postgresql-15)
# Node.js and npm run s3rver, the S3 protocol server of the tests; a machine that already
# has them (from Debian or NodeSource) keeps its own.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (or install these with sudo apt-get install): ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# s3rver (the npm registry) into the build tree, where the tests look for it.
tools="$(cd "$(dirname "$0")/.." && pwd)/build/tools"
if [ ! -x "$tools/node_modules/.bin/s3rver" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error s3rver@3.7.1 >/dev/null)
fi

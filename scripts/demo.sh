#!/usr/bin/env bash
# The quick start: installs what is missing, builds, starts backupd on ./data (SQLite
# control database, local backups) and runs a short round trip with backupctl: create a
# collection, fill it, back it up with its files while watching progress, list backups
# and jobs. backupd keeps running afterwards (stop it with: kill $(cat data/backupd.pid)).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DBACKUP_TESTS=OFF
bin=$PWD/build/bin
mkdir -p data
if [ -f data/backupd.pid ] && kill -0 "$(cat data/backupd.pid)" 2>/dev/null; then
  kill "$(cat data/backupd.pid)"; sleep 1
fi
rm -f data/backupd.port
"$bin/backupd" --data-dir ./data --listen 127.0.0.1:50051 --port-file data/backupd.port \
  >>data/backupd.log 2>&1 &
echo $! >data/backupd.pid
for _ in $(seq 100); do [ -s data/backupd.port ] && break; sleep 0.1; done
[ -s data/backupd.port ] || { cat data/backupd.log; exit 1; }
ctl="$bin/backupctl --server 127.0.0.1:50051"
name="demo-$(date +%s)"
set -x
$ctl collections create "demo/$name" --label purpose=quickstart
sqlite3 "data/collections/demo/$name/collection.db" \
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000)
   INSERT INTO records (id, proto_data) SELECT 'r' || i, randomblob(500) FROM n;"
mkdir -p "data/files/demo/$name/images" && head -c 20000000 /dev/urandom >"data/files/demo/$name/images/big.bin"
$ctl backup "demo/$name" --files --tag note=quickstart --wait
$ctl backups list demo
$ctl jobs list --page-size 5
set +x
echo "backupd is running (pid $(cat data/backupd.pid), log data/backupd.log); try: $ctl --help"

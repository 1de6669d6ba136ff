#!/usr/bin/env bash
# Issue 11's acceptance run, by hand: a front-end backupd and three backup-worker
# processes on one data directory (./data-policies), ten collections in namespace "fleet",
# a policy "@every 5s" keeping the last 3, for a minute (DEMO_SECONDS), with a Prometheus
# server scraping all four processes and the dashboard on http://127.0.0.1:9464/
# (a screenshot of it is taken at the end of the minute when chromium is installed). Then it prints the backups per collection, checks
# that every slot gave exactly one job per collection, and asks Prometheus for a figure.
# Run after `bash scripts/demo.sh` (or any build into build/); stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/bin
data=$PWD/data-policies
seconds=${DEMO_SECONDS:-60}
rm -rf "$data" && mkdir -p "$data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$bin/backupd" --data-dir "$data" --listen 127.0.0.1:0 --port-file "$data/backupd.port" \
  --workers 0 --http-listen 127.0.0.1:9464 >>"$data/backupd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$data/backupd.port" ] && break; sleep 0.1; done
[ -s "$data/backupd.port" ] || { cat "$data/backupd.log"; exit 1; }
for i in 1 2 3; do
  "$bin/backup-worker" --data-dir "$data" --workers 2 --worker-id "w$i" \
    --http-listen "127.0.0.1:946$((4 + i))" >>"$data/worker-$i.log" 2>&1 &
  pids+=($!)
done
ctl="$bin/backupctl --server 127.0.0.1:$(cat "$data/backupd.port")"
for c in $(seq 0 9); do
  $ctl collections create "fleet/c$c" >/dev/null
  sqlite3 "$data/collections/fleet/c$c/collection.db" \
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
     INSERT INTO records (id, proto_data) SELECT 'r' || i, randomblob(200) FROM n;"
done
cat >"$data/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ['$PWD/deploy/prometheus/backup-alerts.yml']
scrape_configs:
  - job_name: collector-backup
    static_configs:
      - targets: ['127.0.0.1:9464', '127.0.0.1:9465', '127.0.0.1:9466', '127.0.0.1:9467']
YAML
prometheus --config.file="$data/prometheus.yml" --storage.tsdb.path="$data/tsdb" \
  --web.listen-address=127.0.0.1:9090 >>"$data/prometheus.log" 2>&1 &
pids+=($!)

set -x
$ctl policies create every5 --selector fleet --schedule '@every 5s' --keep-last 3
set +x
echo "running for $seconds s; Prometheus on http://127.0.0.1:9090, metrics on :9464-:9467"
sleep "$seconds"
if command -v chromium >/dev/null; then # what the dashboard shows now
  chromium --headless --no-sandbox --disable-gpu --user-data-dir="$data/chromium" \
    --window-size=1280,1500 --virtual-time-budget=3000 --screenshot="$data/dashboard.png" \
    http://127.0.0.1:9464/ >/dev/null 2>&1 && echo "dashboard screenshot: $data/dashboard.png"
fi
$ctl policies pause every5
for _ in $(seq 120); do
  active=$(sqlite3 "$data/control.db" "SELECT COUNT(*) FROM jobs WHERE state IN ('QUEUED','RUNNING')")
  [ "$active" = 0 ] && break
  sleep 0.5
done
sleep 2 # the schedulers apply retention a tick after each job succeeds
set -x
$ctl policies list
$ctl backups forget --policy every5 --dry-run | head -5
sqlite3 "$data/control.db" "SELECT collection_name, COUNT(*) FROM backups
  WHERE state = 'COMPLETED' GROUP BY 1 ORDER BY 1"
# Slots that did not give exactly one job to each of the ten collections (expect none):
sqlite3 "$data/control.db" "SELECT substr(idempotency_key, 1, instr(substr(idempotency_key, 15), '/') + 13) AS slot,
  COUNT(*), COUNT(DISTINCT collection_name) FROM jobs WHERE kind = 'BACKUP' GROUP BY slot
  HAVING COUNT(*) != 10 OR COUNT(DISTINCT collection_name) != 10"
curl -sG http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=count(up == 1)'
echo
curl -sG http://127.0.0.1:9090/api/v1/query \
  --data-urlencode 'query=sum by (kind) (backup_jobs_finished_total{outcome="succeeded"})'
echo
set +x

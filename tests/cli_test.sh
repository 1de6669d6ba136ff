#!/usr/bin/env bash
# End to end with real processes: backupd started and stopped by signal, driven by
# backupctl. Usage: cli_test.sh BIN_DIR
set -euo pipefail
bin=$(cd "$1" && pwd)
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- backupd log"; cat "$work/log" || true; exit 1; }

start() {
  rm -f "$work/port"
  local workers=$1
  shift
  "$bin/backupd" --data-dir "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
    --workers "$workers" --log-format json "$@" >>"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  [ -s "$work/port" ] || fail "backupd did not start"
  ctl="$bin/backupctl --server 127.0.0.1:$(cat "$work/port")"
}
stop() { kill -TERM "$pid"; wait "$pid" || fail "backupd exited non-zero on SIGTERM"; pid=""; }

start 2
$ctl collections create prod/users --label team=core | grep -q "created collection prod/users" || fail "create"
sqlite3 "$work/data/collections/prod/users/collection.db" \
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 2000)
   INSERT INTO records (id, proto_data) SELECT 'r' || i, randomblob(200) FROM n;"
mkdir -p "$work/data/files/prod/users/docs" && echo hello >"$work/data/files/prod/users/docs/a.txt"

out=$($ctl backup prod/users --files --tag note=e2e --wait) || fail "backup --wait: $out"
echo "$out" | grep -q "SUCCEEDED: backup backup-" || fail "backup output: $out"
echo "$out" | grep -q "2000 records, 1 files" || fail "backup figures: $out"

json=$($ctl -o json backups list prod/users)
echo "$json" | grep -q '"state": "BACKUP_COMPLETED"' || fail "backups list json: $json"
echo "$json" | grep -q '"note": "e2e"' || fail "metadata: $json"
echo "$json" | grep -q '"total_count": "1"' || fail "total_count: $json"

if $ctl backup prod/missing 2>"$work/err"; then fail "unknown collection accepted"; fi
grep -q "NOT_FOUND: backup: collection prod/missing not found" "$work/err" || fail "message: $(cat "$work/err")"
if $ctl backup 'prod/a b' 2>"$work/err"; then fail "bad name accepted"; fi
grep -q "INVALID_ARGUMENT" "$work/err" || fail "bad name: $(cat "$work/err")"

# Restore into a new collection, verify, delete.
backup_id=$(echo "$json" | sed -n 's/.*"backup_id": "\(backup-[0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$backup_id" ] || fail "no backup id in: $json"
out=$($ctl restore "$backup_id" prod/users-copy --wait) || fail "restore: $out"
echo "$out" | grep -q "restored prod/users-copy, 2000 records, 1 files" || fail "restore output: $out"
cmp "$work/data/files/prod/users/docs/a.txt" "$work/data/files/prod/users-copy/docs/a.txt" || fail "restored file"
$ctl collections list --label restored_from_backup="$backup_id" | grep -q "prod/users-copy" || fail "restore labels"
if $ctl restore "$backup_id" prod/users-copy 2>"$work/err"; then fail "overwrite=false replaced a collection"; fi
grep -q "ALREADY_EXISTS" "$work/err" || fail "restore over existing: $(cat "$work/err")"
$ctl verify "$backup_id" --wait | grep -q "is VALID" || fail "verify"
$ctl delete "$backup_id" | grep -q "deleted $backup_id" || fail "delete"
if $ctl delete "$backup_id" 2>"$work/err"; then fail "deleted twice"; fi
grep -q "NOT_FOUND" "$work/err" || fail "delete unknown: $(cat "$work/err")"

# A queued job survives a restart of a front-end-only server, then runs.
stop
start 0
job=$($ctl -o json backup prod/users | sed -n 's/.*"job_id": "\(job-[0-9a-f]*\)".*/\1/p' | head -1)
[ -n "$job" ] || fail "no job id"
$ctl jobs get "$job" | grep -q QUEUED || fail "job not queued"
stop
start 1
$ctl jobs watch "$job" >"$work/watch" || fail "watch: $(cat "$work/watch")"
grep -q "SUCCEEDED" "$work/watch" || fail "watched job did not succeed"
$ctl jobs list --state SUCCEEDED --kind BACKUP | grep -c SUCCEEDED | grep -q '^2$' || fail "jobs list"
grep -q '"msg":"job=job-' "$work/log" || fail "json logs carry the job id"
stop

# Secured: TLS with a test CA, bearer tokens made by backupctl, re-read on SIGHUP.
pki="$work/pki"
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=e2e-ca -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=backupd \
  -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$pki/ext"
openssl x509 -req -days 1 -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
  -CAcreateserial -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null
$bin/backupctl auth new-token ci --role operator --namespace prod >"$work/ci" || fail "new-token"
sed -n 's/^token: //p' "$work/ci" >"$work/ci.token"
entry=$(sed -n 's/^auth-file entry: //p' "$work/ci")
echo "{\"tokens\": [$entry]}" >"$work/auth.json"
grep -q "$(cat "$work/ci.token")" "$work/auth.json" && fail "the auth file holds the token itself"
start 1 --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" --auth-file "$work/auth.json"
tls="--tls-ca $pki/ca.pem"
if $ctl $tls collections list 2>"$work/err"; then fail "a call without a token was answered"; fi
grep -q "UNAUTHENTICATED" "$work/err" || fail "no token: $(cat "$work/err")"
if $ctl --token-file "$work/ci.token" collections list 2>"$work/err"; then fail "plaintext answered"; fi
out=$($ctl $tls --token-file "$work/ci.token" backup prod/users --wait) || fail "backup as ci: $out"
job=$(echo "$out" | sed -n 's/.*job \(job-[0-9a-f]*\).*/\1/p' | head -1)
backup_id=$(echo "$out" | sed -n 's/.*: backup \(backup-[0-9a-f]*\),.*/\1/p' | head -1)
BACKUPCTL_TOKEN_FILE="$work/ci.token" $ctl $tls jobs get "$job" | grep -q "submitted by: ci" \
  || fail "jobs get does not name the submitter"
if $ctl $tls --token-file "$work/ci.token" delete "$backup_id" 2>"$work/err"; then fail "operator deleted"; fi
grep -q "PERMISSION_DENIED: delete: DeleteBackup in namespace \"prod\" needs role admin" "$work/err" \
  || fail "operator delete: $(cat "$work/err")"
grep -q 'audit call=DeleteBackup principal=\\"ci\\"' "$work/log" || fail "no audit line for the refused delete"
# SIGHUP: a new token file replaces the old one without a restart.
$bin/backupctl auth new-token ops --role admin --namespace '*' >"$work/ops"
sed -n 's/^token: //p' "$work/ops" >"$work/ops.token"
echo "{\"tokens\": [$(sed -n 's/^auth-file entry: //p' "$work/ops")]}" >"$work/auth.json"
kill -HUP "$pid"
for _ in $(seq 50); do
  $ctl $tls --token-file "$work/ops.token" collections list >/dev/null 2>&1 && break
  sleep 0.1
done
$ctl $tls --token-file "$work/ops.token" collections list | grep -q prod/users || fail "new token after SIGHUP"
if $ctl $tls --token-file "$work/ci.token" collections list 2>/dev/null; then fail "old token kept after SIGHUP"; fi
stop
if "$bin/backupd" --data-dir "$work/data" --listen 0.0.0.0:0 2>"$work/err"; then fail "served 0.0.0.0 openly"; fi
grep -q "refusing to serve 0.0.0.0:0" "$work/err" || fail "open listen: $(cat "$work/err")"
if "$bin/backupd" --data-dir "$work/data" --port-file /nonexistent/port 2>"$work/err"; then fail "unwritable port file accepted"; fi
grep -q "cannot write the port file /nonexistent/port" "$work/err" || fail "port file: $(cat "$work/err")"
echo "cli_end_to_end: 1 passed, 0 failed"

// The rows of the control database as plain values: jobs, backups, collections.
// Enum values equal the wire enums' numbers, so the server converts by cast.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/names.h"

namespace backup {

// kDelete removes a backup on the node whose disk holds it (control/node_routing.h).
enum class JobKind { kBackup = 1, kRestore = 2, kVerify = 3, kDelete = 4 };

// QUEUED: waiting for a worker (also after a lease expired or a retry was scheduled).
// RUNNING: claimed by lease_owner until lease_expires_at_ms, renewed by heartbeat.
// SUCCEEDED, FAILED, CANCELLED: terminal; finished_at_ms is set.
enum class JobState { kQueued = 1, kRunning = 2, kSucceeded = 3, kFailed = 4, kCancelled = 5 };

std::string_view ToString(JobKind kind);
std::string_view ToString(JobState state);
std::optional<JobKind> JobKindFromString(std::string_view s);
std::optional<JobState> JobStateFromString(std::string_view s);
inline bool IsTerminal(JobState s) { return s >= JobState::kSucceeded; }

// The most attempts a job may have (a request's max_attempts).
inline constexpr int kMaxAttemptsLimit = 10;

struct Progress {
  std::string phase = "queued";
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
  int64_t items_done = 0;
  int64_t items_total = 0;
  bool operator==(const Progress&) const = default;
};

// The error that ended one attempt of a job (kept for every attempt).
struct AttemptError {
  int attempt = 0;
  std::string worker;
  Error error{Code::kUnknown, ""};
  int64_t finished_at_ms = 0;
};

struct Job {
  int64_t seq = 0;  // insertion order; the paging key
  std::string id;
  JobKind kind = JobKind::kBackup;
  JobState state = JobState::kQueued;
  CollectionName collection;
  std::string backup_id;
  std::string params;  // the serialized request
  std::string result;  // the serialized response, once SUCCEEDED
  Progress progress;
  int attempt = 0;
  int max_attempts = 3;
  std::string lease_owner;
  int64_t lease_expires_at_ms = 0;
  bool cancel_requested = false;
  std::optional<Error> error;
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;
  int64_t finished_at_ms = 0;
  std::string idempotency_key;  // "" when none was given
  std::string request_hash;     // SHA-256 of the request, to recognise a repeat
  std::string submitted_by;     // the principal that submitted it (audit)
  // The node whose workers may claim it ("" any): a backup's is its collection's node, a
  // restore's its destination's, a verify's or delete's its backup's (see NodeOf...).
  std::string node;
  std::vector<AttemptError> attempts;  // filled by GetJob only
};

// What a worker holds while it runs a job: every write it makes is fenced by it.
struct Lease {
  std::string job_id;
  std::string owner;
  int attempt = 0;
};

// PENDING until the job finishes; COMPLETED only once the files are durable.
// DELETING: DeleteBackup is removing its files; repeating the delete finishes it.
enum class BackupState { kPending = 1, kCompleted = 2, kFailed = 3, kCancelled = 4, kDeleting = 5 };
std::string_view ToString(BackupState state);
std::optional<BackupState> BackupStateFromString(std::string_view s);

struct BackupRecord {
  std::string id;
  CollectionName collection;
  int64_t timestamp = 0;      // unix seconds (BackupMetadata.timestamp)
  int64_t created_at_ms = 0;  // orders backups of the same second
  int64_t size_bytes = 0;
  int64_t record_count = 0;
  int64_t file_count = 0;
  bool includes_files = false;
  std::string storage_path;
  std::string storage_type = "local";
  std::map<std::string, std::string> metadata;
  BackupState state = BackupState::kPending;
  std::string sha256;
  int64_t completed_at = 0;
  std::string job_id;
  int64_t last_verified_at = 0;  // unix seconds of the last verify job, 0: never
  bool last_verify_valid = false;
  std::string last_verify_error;
  int db_mode = 0644;  // the source database's permission bits, given back by a restore
  // Where an archive-format backup lives (see docs/backup-format.md); all empty for the
  // plain format (a database file at storage_path and a files folder beside it).
  std::string store;                 // the configured store's name ("local", "offsite", ...)
  std::string object_key;            // the archive's key in that store
  std::string compression = "none";  // "zstd" or "none"
  std::string key_id;                // the encryption key's id; "" when not encrypted
  int64_t stored_bytes = 0;          // the archive's size in the store
  std::string stored_etag;           // the store's checksum of it ("" where the store has none)
  int64_t db_bytes = 0;              // the plain snapshot's size
  // The node whose disk holds it; "" when any node can reach it (an object store, or a
  // single host).
  std::string node;

  bool archived() const { return !object_key.empty(); }
};

// One copied file of a backup, relative to the files folder.
struct ManifestEntry {
  std::string path;
  int64_t size = 0;
  std::string sha256;
  int mode = 0644;  // the source file's permission bits, given back by a restore
};

struct CollectionRecord {
  CollectionName name;
  std::string db_path;
  std::string files_path;
  std::string message_type_namespace;
  std::string message_type_name;
  std::map<std::string, std::string> labels;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::string node;  // the node whose disk holds it ("" on a single host)
};

// A backup policy: which collections to back up, when, where, and which backups to keep.
// Its scheduled jobs carry the idempotency key PolicyJobKey() (common/policy_keys.h) and
// their backups the metadata kPolicyMetadataKey = name.
struct PolicyRecord {
  std::string name;
  // The selector, evaluated at each run: the collections of namespace `ns`, only
  // `collection` when set, only those carrying every label in `labels`.
  std::string ns;
  std::string collection;
  std::map<std::string, std::string> labels;
  std::string schedule;  // a Schedule spec (policy/schedule.h)
  std::string store;     // "" the default store
  bool include_files = false;
  int keep_last = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0;
  int64_t keep_within_s = 0;
  bool verify = false;   // queue a verify after each scheduled backup
  int64_t jitter_s = 0;  // each slot runs up to this much later (the same for every process)
  bool paused = false;
  std::string created_by;  // the principal that created it
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t last_slot = 0;  // unix seconds of the last slot that ran; 0: none yet
};

}  // namespace backup

// Identifiers for backups and jobs. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace backup {

// "backup-" + 16 hex digits of SHA-256("ns/name@<unix nanoseconds>#<64 random bits>").
// Two backups of one collection in the same second get different ids: the random salt
// makes ids unique regardless of timing (the store's primary key still checks).
std::string NewBackupId(const std::string& ns, const std::string& name, int64_t unix_nanos);

// "job-" + 16 random hex digits.
std::string NewJobId();

// Random hex digits, from the OS's CSPRNG.
std::string RandomHex(size_t bytes);

}  // namespace backup

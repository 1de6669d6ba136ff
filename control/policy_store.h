// Backup policies (see PolicyRecord): their definitions and the last slot each ran. The
// scheduler reads them in every process that runs jobs; AdvancePolicySlot() is how those
// processes agree that a slot has run (the jobs of a slot are made unique by their
// idempotency keys, the slot by this compare-and-set).
// SqliteControlStore implements it; a PostgreSQL store implements the same interface.
//
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/records.h"

namespace backup {

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;

  // kAlreadyExists when the name is taken.
  virtual Status CreatePolicy(const PolicyRecord& policy) = 0;
  // kNotFound ("policy nightly not found").
  virtual Result<PolicyRecord> GetPolicy(const std::string& name) = 0;
  // By name; only policies whose namespace matches one of `namespace_globs` (empty: all).
  virtual Result<std::vector<PolicyRecord>> ListPolicies(
      const std::vector<std::string>& namespace_globs) = 0;
  // Replaces the definition (everything but name, created_*, last_slot). kNotFound.
  virtual Status UpdatePolicy(const PolicyRecord& policy) = 0;
  // kNotFound for an unknown name. Its jobs and backups stay.
  virtual Status DeletePolicy(const std::string& name) = 0;
  // Sets last_slot to `slot` if it is earlier; true when this call moved it (exactly one
  // caller per slot sees true).
  virtual Result<bool> AdvancePolicySlot(const std::string& name, int64_t slot) = 0;
};

}  // namespace backup

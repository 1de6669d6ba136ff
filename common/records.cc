#include "common/records.h"

#include <array>
#include <utility>

namespace backup {
namespace {

template <typename E, size_t N>
std::optional<E> Lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <typename E, size_t N>
std::string_view Name(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "UNKNOWN";
}

constexpr std::array<std::pair<JobKind, std::string_view>, 4> kKinds{
    {{JobKind::kBackup, "BACKUP"},
     {JobKind::kRestore, "RESTORE"},
     {JobKind::kVerify, "VERIFY"},
     {JobKind::kDelete, "DELETE"}}};
constexpr std::array<std::pair<JobState, std::string_view>, 5> kStates{
    {{JobState::kQueued, "QUEUED"},
     {JobState::kRunning, "RUNNING"},
     {JobState::kSucceeded, "SUCCEEDED"},
     {JobState::kFailed, "FAILED"},
     {JobState::kCancelled, "CANCELLED"}}};
constexpr std::array<std::pair<BackupState, std::string_view>, 5> kBackupStates{
    {{BackupState::kPending, "PENDING"},
     {BackupState::kCompleted, "COMPLETED"},
     {BackupState::kFailed, "FAILED"},
     {BackupState::kCancelled, "CANCELLED"},
     {BackupState::kDeleting, "DELETING"}}};

}  // namespace

std::string_view ToString(JobKind kind) { return Name(kKinds, kind); }
std::string_view ToString(JobState state) { return Name(kStates, state); }
std::string_view ToString(BackupState state) { return Name(kBackupStates, state); }
std::optional<JobKind> JobKindFromString(std::string_view s) { return Lookup(kKinds, s); }
std::optional<JobState> JobStateFromString(std::string_view s) { return Lookup(kStates, s); }
std::optional<BackupState> BackupStateFromString(std::string_view s) {
  return Lookup(kBackupStates, s);
}

}  // namespace backup

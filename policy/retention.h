// Which of a policy's backups to keep: restic's `forget` rules (keep-last, -daily, -weekly,
// -monthly, -within), counted in the policy's time zone, plus two things no rule removes:
// the newest backup whose last verify succeeded, and a backup a job is using. Pure: it
// decides, the caller deletes (through the same safe delete as DeleteBackup).
//
//   last N     the N newest backups
//   daily N    the newest backup of each of the N newest days that have one (weekly: ISO
//              weeks; monthly: calendar months), in the policy's time zone
//   within D   every backup taken within D of the newest one (not of now: a policy that
//              stopped running does not lose its last backups to the clock)
// A backup kept by any rule is kept; every rule that keeps it is named. With no rule at
// all, everything is kept.
//
// Thread-safety: functions only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace date {
class time_zone;
}

namespace backup {

struct RetentionRules {
  int last = 0, daily = 0, weekly = 0, monthly = 0;
  std::chrono::seconds within{0};
  bool empty() const {
    return last == 0 && daily == 0 && weekly == 0 && monthly == 0 && within.count() == 0;
  }
};

struct RetentionCandidate {
  std::string id;
  std::chrono::sys_seconds taken;
  bool verified = false;  // its last verify succeeded
  bool in_use = false;    // a queued or running job reads or writes it
};

struct RetentionVerdict {
  std::string id;
  std::chrono::sys_seconds taken;
  bool keep = false;
  std::vector<std::string> reasons;  // why it is kept: "last 3", "daily 2026-11-28", ...
};

// The verdict on each backup, newest first. `zone` nullptr: UTC.
std::vector<RetentionVerdict> ApplyRetention(std::vector<RetentionCandidate> backups,
                                             const RetentionRules& rules,
                                             const date::time_zone* zone);

// "1d", "90m", "1h30m": a duration as the rules write it.
std::string FormatDuration(std::chrono::seconds d);

}  // namespace backup

// When a backup policy runs: its *slots*, the instants a schedule names. Every process
// computes the same slots from the same spec, so a slot can be the idempotency key of the
// jobs it starts, however many schedulers look at it.
//
// A spec is one of
//   [CRON_TZ=Zone ]MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK   five-field cron, in Zone (UTC)
//   [CRON_TZ=Zone ]@hourly|@daily|@midnight|@weekly|@monthly|@yearly|@annually
//   @every DURATION        e.g. 10s, 5m, 1h30m, 1d (1 s to 366 d), slots at multiples of
//                          DURATION since the Unix epoch
// Cron fields take *, N, N-M, lists (a,b) and steps (*/n, N-M/n, N/n); months and days
// of the week also take names (JAN, mon); 0 and 7 are Sunday. When both the day of the
// month and the day of the week are restricted, a day matching either is a match (as in
// every cron). Time zones come from the system's tz database (Howard Hinnant's date
// library, reading /usr/share/zoneinfo).
//
// Daylight saving: a local time that does not exist (the clock jumps over it) gives a slot
// at the first instant after the jump, so a daily backup is never lost; a local time that
// happens twice gives one slot, at its first occurrence, unless the hour field is "every
// hour", whose slots follow real time through the repeated hour.
//
// Thread-safety: a Schedule is immutable once parsed; share it freely.
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace date {
class time_zone;
}

namespace backup {

class Schedule {
 public:
  // kInvalidArgument, saying what is wrong, for anything but a spec above that can match.
  static Result<Schedule> Parse(std::string_view spec);

  // The first slot strictly after `t`.
  std::chrono::sys_seconds NextAfter(std::chrono::sys_seconds t) const;
  // The last slot at or before `t` (what is due after downtime: one run, not one per missed
  // slot); nullopt if there was none in the nine years before `t`.
  std::optional<std::chrono::sys_seconds> LatestAtOrBefore(std::chrono::sys_seconds t) const;

  const std::string& spec() const { return spec_; }
  std::string zone_name() const;
  // The spec's time zone; nullptr for UTC.
  const date::time_zone* zone() const { return zone_; }

 private:
  struct Cron {
    std::bitset<64> minutes, hours, days, months, weekdays;  // bit N: value N (0 = Sunday)
    bool days_star = false, weekdays_star = false;           // the field began with "*"
  };
  Schedule() = default;
  static Status ParseCron(std::string_view fields, Cron& cron);
  bool DayMatches(int day, unsigned weekday) const;
  std::optional<std::chrono::sys_seconds> CronNextAfter(std::chrono::sys_seconds t) const;

  std::string spec_;
  const date::time_zone* zone_ = nullptr;  // nullptr: UTC
  std::chrono::seconds every_{0};          // > 0: @every
  Cron cron_;
};

// "10s", "5m", "1h30m", "2d" (numbers of up to 9 digits, each with a unit d/h/m/s);
// nullopt for anything else.
std::optional<std::chrono::seconds> ParseDuration(std::string_view text);

}  // namespace backup

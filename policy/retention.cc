#include "policy/retention.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

#include <date/date.h>
#include <date/iso_week.h>
#include <date/tz.h>

namespace backup {

namespace {

using std::chrono::sys_seconds;

date::local_days LocalDay(sys_seconds t, const date::time_zone* zone) {
  const date::local_seconds local =
      zone != nullptr ? zone->to_local(t) : date::local_seconds(t.time_since_epoch());
  return std::chrono::floor<std::chrono::days>(local);
}

std::string DayKey(date::local_days day) {
  const date::year_month_day ymd(day);
  char out[16];
  std::snprintf(out, sizeof(out), "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return out;
}

std::string WeekKey(date::local_days day) {
  const iso_week::year_weeknum_weekday ywd(date::sys_days(day.time_since_epoch()));
  char out[16];
  std::snprintf(out, sizeof(out), "%04d-W%02u", static_cast<int>(ywd.year()),
                static_cast<unsigned>(ywd.weeknum()));
  return out;
}

std::string MonthKey(date::local_days day) { return DayKey(day).substr(0, 7); }

// One "newest of each period" rule: keeps the first backup of each new period, `count` times.
void KeepNewestPerPeriod(std::vector<RetentionVerdict>& verdicts, int count, const char* name,
                         const std::function<std::string(sys_seconds)>& period) {
  std::string previous;
  for (RetentionVerdict& v : verdicts) {
    if (count <= 0) return;
    std::string key = period(v.taken);
    if (key == previous) continue;
    v.keep = true;
    v.reasons.push_back(std::string(name) + " " + key);
    previous = std::move(key);
    --count;
  }
}

}  // namespace

std::vector<RetentionVerdict> ApplyRetention(std::vector<RetentionCandidate> backups,
                                             const RetentionRules& rules,
                                             const date::time_zone* zone) {
  std::sort(backups.begin(), backups.end(), [](const auto& a, const auto& b) {
    return a.taken != b.taken ? a.taken > b.taken : a.id > b.id;
  });
  std::vector<RetentionVerdict> verdicts;
  verdicts.reserve(backups.size());
  for (const RetentionCandidate& b : backups) verdicts.push_back({b.id, b.taken, false, {}});
  if (rules.empty()) {
    for (RetentionVerdict& v : verdicts) {
      v.keep = true;
      v.reasons.emplace_back("no retention rule");
    }
    return verdicts;
  }
  for (size_t i = 0; i < verdicts.size() && std::cmp_less(i, rules.last); ++i) {
    verdicts[i].keep = true;
    verdicts[i].reasons.push_back("last " + std::to_string(rules.last));
  }
  KeepNewestPerPeriod(verdicts, rules.daily, "daily",
                      [&](sys_seconds t) { return DayKey(LocalDay(t, zone)); });
  KeepNewestPerPeriod(verdicts, rules.weekly, "weekly",
                      [&](sys_seconds t) { return WeekKey(LocalDay(t, zone)); });
  KeepNewestPerPeriod(verdicts, rules.monthly, "monthly",
                      [&](sys_seconds t) { return MonthKey(LocalDay(t, zone)); });
  if (rules.within.count() > 0 && !verdicts.empty()) {
    const sys_seconds since = verdicts.front().taken - rules.within;
    for (RetentionVerdict& v : verdicts) {
      if (v.taken < since) break;
      v.keep = true;
      v.reasons.push_back("within " + FormatDuration(rules.within));
    }
  }
  // What no rule removes. Said only where the rules alone would remove it.
  bool newest_verified_seen = false;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    RetentionVerdict& v = verdicts[i];
    if (backups[i].verified && !newest_verified_seen) {
      newest_verified_seen = true;
      if (!v.keep) v.reasons.emplace_back("newest verified");
      v.keep = true;
    }
    if (backups[i].in_use && !v.keep) {
      v.keep = true;
      v.reasons.emplace_back("in use");
    }
  }
  return verdicts;
}

std::string FormatDuration(std::chrono::seconds d) {
  std::string out;
  int64_t left = d.count();
  for (const auto& [unit, size] : {std::pair{'d', int64_t{86'400}}, std::pair{'h', int64_t{3'600}},
                                   std::pair{'m', int64_t{60}}, std::pair{'s', int64_t{1}}}) {
    if (left >= size) {
      out += std::to_string(left / size) + unit;
      left %= size;
    }
  }
  return out.empty() ? "0s" : out;
}

}  // namespace backup

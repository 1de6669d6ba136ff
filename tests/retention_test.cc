// Retention: restic's `forget` rules over a policy's backups, plus what is never removed.
#include "policy/retention.h"

#include <gtest/gtest.h>

#include <cstdio>

#include <date/date.h>
#include <date/tz.h>

namespace backup::testing {
namespace {

using std::chrono::sys_seconds;

sys_seconds Utc(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0;
  int h = 0, mi = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%u-%u %d:%d", &y, &mo, &d, &h, &mi), 5) << text;
  return date::sys_days(date::year(y) / date::month(mo) / date::day(d)) + std::chrono::hours(h) +
         std::chrono::minutes(mi);
}

// Backups named by their UTC time ("2026-11-28 10:00"), verified and idle.
std::vector<RetentionCandidate> At(const std::vector<std::string>& times) {
  std::vector<RetentionCandidate> out;
  out.reserve(times.size());
  for (const std::string& t : times) out.push_back({t, Utc(t), true, false});
  return out;
}

std::vector<std::string> Kept(const std::vector<RetentionVerdict>& verdicts) {
  std::vector<std::string> out;
  for (const auto& v : verdicts) {
    if (v.keep) out.push_back(v.id);
  }
  return out;
}

std::string ReasonsOf(const std::vector<RetentionVerdict>& verdicts, const std::string& id) {
  for (const auto& v : verdicts) {
    if (v.id != id) continue;
    std::string out;
    for (const auto& r : v.reasons) out += (out.empty() ? "" : ", ") + r;
    return out;
  }
  return "(not listed)";
}

using V = std::vector<std::string>;

TEST(RetentionTest, KeepLastKeepsTheNewestAndSaysSo) {
  RetentionRules rules;
  rules.last = 3;
  const auto v = ApplyRetention(At({"2026-11-28 10:00", "2026-11-28 10:05", "2026-11-28 10:10",
                                    "2026-11-28 10:15", "2026-11-28 10:20"}),
                                rules, nullptr);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v.front().id, "2026-11-28 10:20") << "newest first";
  EXPECT_EQ(Kept(v), (V{"2026-11-28 10:20", "2026-11-28 10:15", "2026-11-28 10:10"}));
  EXPECT_EQ(ReasonsOf(v, "2026-11-28 10:10"), "last 3");
  EXPECT_EQ(ReasonsOf(v, "2026-11-28 10:05"), "");
}

TEST(RetentionTest, DailyWeeklyMonthlyKeepTheNewestOfEachPeriodThatHasOne) {
  RetentionRules rules;
  rules.daily = 3;
  const auto v = ApplyRetention(At({"2026-11-28 23:00", "2026-11-28 08:00", "2026-11-27 12:00",
                                    "2026-11-25 12:00", "2026-11-24 12:00"}),
                                rules, nullptr);
  // Three days that have a backup (28, 27, 25; the 26th has none): the newest of each.
  EXPECT_EQ(Kept(v), (V{"2026-11-28 23:00", "2026-11-27 12:00", "2026-11-25 12:00"}));
  EXPECT_EQ(ReasonsOf(v, "2026-11-25 12:00"), "daily 2026-11-25");

  RetentionRules weekly;
  weekly.weekly = 2;
  // ISO weeks: 2026-11-23..29 is week 48, 2026-11-16..22 week 47.
  const auto w = ApplyRetention(At({"2026-11-29 10:00", "2026-11-23 10:00", "2026-11-22 10:00",
                                    "2026-11-16 10:00", "2026-11-15 10:00"}),
                                weekly, nullptr);
  EXPECT_EQ(Kept(w), (V{"2026-11-29 10:00", "2026-11-22 10:00"}));
  EXPECT_EQ(ReasonsOf(w, "2026-11-22 10:00"), "weekly 2026-W47");

  RetentionRules monthly;
  monthly.monthly = 2;
  const auto m = ApplyRetention(
      At({"2026-11-28 10:00", "2026-11-01 10:00", "2026-10-31 10:00", "2026-09-30 10:00"}), monthly,
      nullptr);
  EXPECT_EQ(Kept(m), (V{"2026-11-28 10:00", "2026-10-31 10:00"}));
}

TEST(RetentionTest, PeriodsAreCountedInThePolicysTimeZone) {
  RetentionRules rules;
  rules.daily = 1;
  // 23:30 UTC on the 27th is already the 28th in Berlin: both are Berlin's 28th, and the
  // newer one is kept. In UTC they are two days, and the 28th's is kept.
  const auto backups = At({"2026-11-28 06:00", "2026-11-27 23:30"});
  EXPECT_EQ(Kept(ApplyRetention(backups, rules, date::locate_zone("Europe/Berlin"))),
            (V{"2026-11-28 06:00"}));
  rules.daily = 2;
  EXPECT_EQ(Kept(ApplyRetention(backups, rules, date::locate_zone("Europe/Berlin"))),
            (V{"2026-11-28 06:00"}));
  EXPECT_EQ(Kept(ApplyRetention(backups, rules, nullptr)),
            (V{"2026-11-28 06:00", "2026-11-27 23:30"}));
}

TEST(RetentionTest, WithinCountsBackFromTheNewestBackupNotFromNow) {
  RetentionRules rules;
  rules.within = std::chrono::hours(24);
  const auto v = ApplyRetention(
      At({"2026-01-10 12:00", "2026-01-10 00:00", "2026-01-09 12:00", "2026-01-09 11:59"}), rules,
      nullptr);
  EXPECT_EQ(Kept(v), (V{"2026-01-10 12:00", "2026-01-10 00:00", "2026-01-09 12:00"}));
  EXPECT_EQ(ReasonsOf(v, "2026-01-09 12:00"), "within 1d");
}

TEST(RetentionTest, RulesAddUpAndEveryReasonIsListed) {
  RetentionRules rules;
  rules.last = 1;
  rules.daily = 2;
  const auto v = ApplyRetention(At({"2026-11-28 10:00", "2026-11-28 09:00", "2026-11-27 10:00"}),
                                rules, nullptr);
  EXPECT_EQ(Kept(v), (V{"2026-11-28 10:00", "2026-11-27 10:00"}));
  EXPECT_EQ(ReasonsOf(v, "2026-11-28 10:00"), "last 1, daily 2026-11-28");
}

TEST(RetentionTest, TheNewestVerifiedBackupAndBackupsInUseAreNeverRemoved) {
  RetentionRules rules;
  rules.last = 1;
  auto backups =
      At({"2026-11-28 10:00", "2026-11-28 09:00", "2026-11-28 08:00", "2026-11-28 07:00"});
  backups[0].verified = false;  // the newest failed its verify (or was never verified)
  backups[1].verified = false;
  backups[3].in_use = true;  // a restore is reading it
  const auto v = ApplyRetention(backups, rules, nullptr);
  EXPECT_EQ(Kept(v), (V{"2026-11-28 10:00", "2026-11-28 08:00", "2026-11-28 07:00"}));
  EXPECT_EQ(ReasonsOf(v, "2026-11-28 08:00"), "newest verified");
  EXPECT_EQ(ReasonsOf(v, "2026-11-28 07:00"), "in use");
}

TEST(RetentionTest, NoRuleKeepsEverything) {
  const auto v =
      ApplyRetention(At({"2026-11-28 10:00", "2026-11-27 10:00"}), RetentionRules{}, nullptr);
  EXPECT_EQ(Kept(v), (V{"2026-11-28 10:00", "2026-11-27 10:00"}));
  EXPECT_EQ(ReasonsOf(v, "2026-11-27 10:00"), "no retention rule");
}

}  // namespace
}  // namespace backup::testing

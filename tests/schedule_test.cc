// Backup policy schedules: cron expressions with time zones, @every, and their slots.
#include "policy/schedule.h"

#include <gtest/gtest.h>

#include <cstdio>

#include <date/date.h>

namespace backup::testing {
namespace {

using std::chrono::sys_seconds;

// A UTC instant written as "2026-03-29 00:30:00".
sys_seconds Utc(const std::string& text) {
  int y = 0;
  unsigned mo = 0, d = 0;
  int h = 0, mi = 0, sec = 0;
  EXPECT_EQ(std::sscanf(text.c_str(), "%d-%u-%u %d:%d:%d", &y, &mo, &d, &h, &mi, &sec), 6) << text;
  return date::sys_days(date::year(y) / date::month(mo) / date::day(d)) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(sec);
}

std::string Show(sys_seconds t) { return date::format("%F %T", t); }

// The next `n` slots after `from`, as UTC text.
std::vector<std::string> Slots(const std::string& spec, const std::string& from, int n) {
  auto schedule = Schedule::Parse(spec);
  EXPECT_TRUE(schedule) << spec << ": " << schedule.error().message();
  std::vector<std::string> out;
  if (!schedule) return out;
  sys_seconds t = Utc(from);
  for (int i = 0; i < n; ++i) {
    t = schedule->NextAfter(t);
    out.push_back(Show(t));
  }
  return out;
}

using V = std::vector<std::string>;

TEST(ScheduleTest, FiveFieldCronInUtc) {
  EXPECT_EQ(Slots("30 2 * * *", "2026-11-28 10:00:00", 2),
            (V{"2026-11-29 02:30:00", "2026-11-30 02:30:00"}));
  EXPECT_EQ(Slots("*/15 * * * *", "2026-11-28 10:07:00", 3),
            (V{"2026-11-28 10:15:00", "2026-11-28 10:30:00", "2026-11-28 10:45:00"}));
  // Strictly after: a slot at `from` itself is not next.
  EXPECT_EQ(Slots("0 * * * *", "2026-11-28 10:00:00", 1), (V{"2026-11-28 11:00:00"}));
  EXPECT_EQ(Slots("0 9-17/4 * * MON-FRI", "2026-11-27 16:00:00", 3),  // a Friday
            (V{"2026-11-27 17:00:00", "2026-11-30 09:00:00", "2026-11-30 13:00:00"}));
  EXPECT_EQ(Slots("0 0 1,15 * *", "2026-11-28 00:00:00", 2),
            (V{"2026-12-01 00:00:00", "2026-12-15 00:00:00"}));
  EXPECT_EQ(Slots("0 0 29 2 *", "2026-01-01 00:00:00", 1), (V{"2028-02-29 00:00:00"}));
  EXPECT_EQ(Slots("0 12 * JAN,jul sun", "2026-06-30 00:00:00", 1), (V{"2026-07-05 12:00:00"}));
  EXPECT_EQ(Slots("0 0 * * 7", "2026-11-28 00:00:00", 1), (V{"2026-11-29 00:00:00"}));  // Sunday
}

TEST(ScheduleTest, DayOfMonthAndDayOfWeekBothSetMeansEither) {
  // As in every cron: the 1st of the month or any Monday.
  EXPECT_EQ(Slots("0 0 1 * MON", "2026-11-28 00:00:00", 3),
            (V{"2026-11-30 00:00:00", "2026-12-01 00:00:00", "2026-12-07 00:00:00"}));
}

TEST(ScheduleTest, TimeZonesAndDaylightSavingTransitions) {
  // 02:30 in Berlin is 01:30 UTC in winter and 00:30 UTC in summer.
  EXPECT_EQ(Slots("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-11-28 10:00:00", 1),
            (V{"2026-11-29 01:30:00"}));
  EXPECT_EQ(Slots("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-06-01 10:00:00", 1),
            (V{"2026-06-02 00:30:00"}));
  // 2026-03-29: Berlin skips from 02:00 to 03:00. The daily 02:30 backup is not lost: it
  // runs at the first instant after the gap, then at 02:30 again the next day.
  EXPECT_EQ(Slots("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-03-28 12:00:00", 3),
            (V{"2026-03-29 01:00:00", "2026-03-30 00:30:00", "2026-03-31 00:30:00"}));
  // 2026-10-25: Berlin repeats 02:00-03:00. 02:30 happens twice; the backup runs once.
  EXPECT_EQ(Slots("CRON_TZ=Europe/Berlin 30 2 * * *", "2026-10-24 12:00:00", 2),
            (V{"2026-10-25 00:30:00", "2026-10-26 01:30:00"}));
  // Hourly across the repeated hour: every hour of real time, none twice, none skipped.
  EXPECT_EQ(Slots("CRON_TZ=Europe/Berlin 0 * * * *", "2026-10-24 23:30:00", 4),
            (V{"2026-10-25 00:00:00", "2026-10-25 01:00:00", "2026-10-25 02:00:00",
               "2026-10-25 03:00:00"}));
}

TEST(ScheduleTest, EveryIsAlignedToTheEpochSoEveryProcessAgreesOnTheSlots) {
  EXPECT_EQ(Slots("@every 10s", "2026-11-28 10:00:03", 3),
            (V{"2026-11-28 10:00:10", "2026-11-28 10:00:20", "2026-11-28 10:00:30"}));
  EXPECT_EQ(Slots("@every 1h30m", "2026-11-28 10:00:00", 1), (V{"2026-11-28 10:30:00"}));
  EXPECT_EQ(Slots("@every 2d", "2026-11-28 10:00:00", 1), (V{"2026-11-29 00:00:00"}));
  EXPECT_EQ(Slots("@daily", "2026-11-28 10:00:00", 1), (V{"2026-11-29 00:00:00"}));
  EXPECT_EQ(Slots("@hourly", "2026-11-28 10:00:00", 1), (V{"2026-11-28 11:00:00"}));
}

TEST(ScheduleTest, TheLatestSlotAtOrBeforeAnInstantIsTheOneToRunAfterDowntime) {
  auto s = Schedule::Parse("*/10 * * * *");
  ASSERT_TRUE(s);
  // Down from 10:05 to 11:47: of the ten missed slots only 11:40 runs.
  EXPECT_EQ(Show(*s->LatestAtOrBefore(Utc("2026-11-28 11:47:00"))), "2026-11-28 11:40:00");
  EXPECT_EQ(Show(*s->LatestAtOrBefore(Utc("2026-11-28 11:40:00"))), "2026-11-28 11:40:00");
  auto every = Schedule::Parse("@every 5s");
  ASSERT_TRUE(every);
  EXPECT_EQ(Show(*every->LatestAtOrBefore(Utc("2026-11-28 11:47:04"))), "2026-11-28 11:47:00");
}

TEST(ScheduleTest, BadSpecsAreRefusedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "five fields"},
      {"* * * *", "five fields"},
      {"* * * * * *", "five fields"},
      {"60 * * * *", "minute"},
      {"* 24 * * *", "hour"},
      {"* * 0 * *", "day of month"},
      {"* * * 13 *", "month"},
      {"* * * * 8", "day of week"},
      {"*/0 * * * *", "step"},
      {"5-1 * * * *", "range"},
      {"a * * * *", "minute"},
      {"1,,2 * * * *", "minute"},
      {"0 0 30 2 *", "never"},
      {"0 0 31 4,6,9,11 *", "never"},
      {"CRON_TZ=Nowhere/Else 0 0 * * *", "time zone"},
      {"CRON_TZ= 0 0 * * *", "time zone"},
      {"@every", "duration"},
      {"@every 0s", "duration"},
      {"@every 10", "duration"},
      {"@every 1x", "duration"},
      {"@every 400d", "duration"},
      {"@every 99999999999999999999s", "duration"},
      {"@sometimes", "unknown"},
  };
  for (const auto& [spec, reason] : bad) {
    auto s = Schedule::Parse(spec);
    ASSERT_FALSE(s) << "accepted: " << spec;
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument) << spec;
    EXPECT_NE(s.error().message().find(reason), std::string::npos)
        << spec << ": " << s.error().message();
  }
  // A hostile spec is not echoed whole.
  auto long_spec = Schedule::Parse(std::string(10'000, '*'));
  ASSERT_FALSE(long_spec);
  EXPECT_LT(long_spec.error().message().size(), 400u);
}

TEST(ScheduleTest, ADurationTooLongToAddUpIsRefusedNotWrapped) {
  std::string huge;
  for (int i = 0; i < 200'000; ++i) huge += "999999999d";  // would overflow int64 seconds
  EXPECT_FALSE(ParseDuration(huge));
  EXPECT_FALSE(Schedule::Parse("@every " + huge));
  EXPECT_EQ(ParseDuration("1d12h")->count(), 129'600);
}

TEST(ScheduleTest, SpecRoundTripsForDisplay) {
  auto s = Schedule::Parse("CRON_TZ=Europe/Berlin 30 2 * * *");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->spec(), "CRON_TZ=Europe/Berlin 30 2 * * *");
  EXPECT_EQ(s->zone_name(), "Europe/Berlin");
  EXPECT_EQ(Schedule::Parse("@every 10s")->zone_name(), "UTC");
}

}  // namespace
}  // namespace backup::testing

#include "policy/schedule.h"

#include <array>
#include <charconv>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

namespace backup {

namespace {

using std::chrono::sys_seconds;
using LocalMinutes = date::local_time<std::chrono::minutes>;

std::string Quoted(std::string_view s) {
  constexpr size_t kShown = 100;
  return "\"" + std::string(s.substr(0, kShown)) + (s.size() > kShown ? "...\"" : "\"");
}

Error Bad(std::string_view spec, const std::string& why) {
  return Error::InvalidArgument("schedule " + Quoted(spec) + ": " + why);
}

std::optional<int64_t> Digits(std::string_view text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text.front() == '-' || text.front() == '+' || ec != std::errc() ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

bool SameLetters(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

struct Field {
  const char* name;
  int lo, hi;
  std::vector<std::string_view> names;  // names[i] stands for lo + i
};

const std::array<Field, 5> kFields = {{
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day of month", 1, 31, {}},
    {"month",
     1,
     12,
     {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
    {"day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}};

// A value of `f`, as digits or a name; "" when it is one, else what is wrong.
std::string Value(std::string_view text, const Field& f, int& out) {
  for (size_t i = 0; i < f.names.size(); ++i) {
    if (SameLetters(text, f.names[i])) {
      out = f.lo + static_cast<int>(i);
      return "";
    }
  }
  const auto v = Digits(text);
  if (!v || *v < f.lo || *v > f.hi) {
    return std::string(f.name) + ": " + Quoted(text) + " is not in " + std::to_string(f.lo) + "-" +
           std::to_string(f.hi);
  }
  out = static_cast<int>(*v);
  return "";
}

// One item of a field's list: *, N, N-M, each with an optional /STEP.
std::string ParseItem(std::string_view item, const Field& f, std::bitset<64>& bits) {
  if (item.empty()) return std::string(f.name) + ": an empty item in the list";
  const size_t slash = item.find('/');
  const std::string_view range = item.substr(0, slash);
  int64_t step = 1;
  if (slash != std::string_view::npos) {
    const auto s = Digits(item.substr(slash + 1));
    if (!s || *s < 1 || *s > f.hi) {
      return std::string(f.name) + ": step " + Quoted(item.substr(slash + 1)) + " is not in 1-" +
             std::to_string(f.hi);
    }
    step = *s;
  }
  int a = f.lo, b = f.hi;
  if (range != "*") {
    const size_t dash = range.find('-');
    if (std::string why = Value(range.substr(0, dash), f, a); !why.empty()) return why;
    b = a;
    if (dash != std::string_view::npos) {
      if (std::string why = Value(range.substr(dash + 1), f, b); !why.empty()) return why;
    } else if (slash != std::string_view::npos) {
      b = f.hi;  // N/STEP: from N to the end
    }
    if (a > b) {
      return std::string(f.name) + ": range " + std::to_string(a) + "-" + std::to_string(b) +
             " is backwards";
    }
  }
  for (int64_t v = a; v <= b; v += step) bits.set(static_cast<size_t>(v));
  return "";
}

std::string ParseField(std::string_view field, const Field& f, std::bitset<64>& bits) {
  size_t begin = 0;
  for (;;) {
    const size_t comma = field.find(',', begin);
    if (std::string why = ParseItem(field.substr(begin, comma - begin), f, bits); !why.empty()) {
      return why;
    }
    if (comma == std::string_view::npos) return "";
    begin = comma + 1;
  }
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t at = 0;
  while (at < text.size()) {
    const size_t start = text.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(text.find_first_of(" \t", start), text.size());
    words.push_back(text.substr(start, end - start));
    at = end;
  }
  return words;
}

// "10s", "5m", "1h30m", "2d": at least one number-and-unit; nullopt if not one.
std::optional<std::chrono::seconds> Duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t at = 0;
  while (at < text.size()) {
    const size_t unit = text.find_first_not_of("0123456789", at);
    if (unit == std::string_view::npos || unit == at || unit - at > 9) return std::nullopt;
    const int64_t n = *Digits(text.substr(at, unit - at));
    switch (text[unit]) {
      case 'd':
        total += n * 86'400;
        break;
      case 'h':
        total += n * 3'600;
        break;
      case 'm':
        total += n * 60;
        break;
      case 's':
        total += n;
        break;
      default:
        return std::nullopt;
    }
    at = unit + 1;
    // No use for more than a thousand years; a longer text would overflow the sum.
    if (total > 1000LL * 366 * 86'400) return std::nullopt;
  }
  return std::chrono::seconds(total);
}

std::string_view Alias(std::string_view word) {
  if (word == "@hourly") return "0 * * * *";
  if (word == "@daily" || word == "@midnight") return "0 0 * * *";
  if (word == "@weekly") return "0 0 * * 0";
  if (word == "@monthly") return "0 0 1 * *";
  if (word == "@yearly" || word == "@annually") return "0 0 1 1 *";
  return "";
}

}  // namespace

Status Schedule::ParseCron(std::string_view fields, Cron& cron) {
  const auto words = Words(fields);
  if (words.size() != kFields.size()) {
    return Fail(Error::InvalidArgument(
        "needs five fields (minute hour day-of-month month day-of-week), @every DURATION or an "
        "@alias"));
  }
  std::array<std::bitset<64>*, 5> bits = {&cron.minutes, &cron.hours, &cron.days, &cron.months,
                                          &cron.weekdays};
  for (size_t i = 0; i < kFields.size(); ++i) {
    if (std::string why = ParseField(words[i], kFields[i], *bits[i]); !why.empty()) {
      return Fail(Error::InvalidArgument(why));
    }
  }
  if (cron.weekdays.test(7)) cron.weekdays.set(0);  // 7 is Sunday too
  cron.days_star = words[2].starts_with('*');
  cron.weekdays_star = words[4].starts_with('*');
  return {};
}

Result<Schedule> Schedule::Parse(std::string_view spec) {
  Schedule s;
  s.spec_ = std::string(spec);
  std::string_view rest = spec;
  const auto words = Words(spec);
  if (!words.empty() && (words[0].starts_with("CRON_TZ=") || words[0].starts_with("TZ="))) {
    const std::string_view name = words[0].substr(words[0].find('=') + 1);
    if (name.empty() || name.size() > 64 ||
        name.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") !=
            std::string_view::npos) {
      return Fail(Bad(spec, "no such time zone " + Quoted(name)));
    }
    try {
      s.zone_ = date::locate_zone(name);
    } catch (const std::exception&) {
      return Fail(Bad(spec, "unknown time zone " + Quoted(name) + " (see /usr/share/zoneinfo)"));
    }
    rest = spec.substr(static_cast<size_t>(words[0].data() - spec.data()) + words[0].size());
  }
  const auto body = Words(rest);
  if (!body.empty() && body[0] == "@every") {
    const auto d = body.size() == 2 ? Duration(body[1]) : std::nullopt;
    if (!d || *d < std::chrono::seconds(1) || *d > std::chrono::days(366)) {
      return Fail(
          Bad(spec, "@every needs one duration such as 10s, 5m, 1h30m or 1d, from 1s to 366d"));
    }
    if (s.zone_ != nullptr) return Fail(Bad(spec, "@every runs in real time: no time zone"));
    s.every_ = *d;
    return s;
  }
  if (!body.empty() && body[0].starts_with('@')) {
    const std::string_view alias = Alias(body[0]);
    if (alias.empty() || body.size() != 1) {
      return Fail(Bad(spec, "unknown " + Quoted(body[0]) +
                                " (@every, @hourly, @daily, @weekly, @monthly, @yearly)"));
    }
    rest = alias;
  }
  if (Status parsed = ParseCron(rest, s.cron_); !parsed) {
    return Fail(Bad(spec, parsed.error().message()));
  }
  if (!s.CronNextAfter(sys_seconds(std::chrono::seconds(946'684'800)))) {  // 2000-01-01
    return Fail(Bad(spec, "never matches (a day no month of it has?)"));
  }
  return s;
}

bool Schedule::DayMatches(int day, unsigned weekday) const {
  const bool by_day = cron_.days.test(static_cast<size_t>(day));
  const bool by_weekday = cron_.weekdays.test(weekday);
  if (cron_.days_star || cron_.weekdays_star) return by_day && by_weekday;
  return by_day || by_weekday;
}

std::optional<sys_seconds> Schedule::CronNextAfter(sys_seconds t) const {
  using std::chrono::days;
  using std::chrono::hours;
  using std::chrono::minutes;
  const date::local_seconds local =
      zone_ != nullptr ? zone_->to_local(t) : date::local_seconds(t.time_since_epoch());
  LocalMinutes m = std::chrono::floor<minutes>(local);
  const LocalMinutes limit = m + days(366 * 9);
  const bool every_hour = cron_.hours.count() == 24;
  while (m <= limit) {
    const date::local_days day = std::chrono::floor<days>(m);
    const date::year_month_day ymd(day);
    const auto month = static_cast<unsigned>(ymd.month());
    if (!cron_.months.test(month)) {
      m = date::local_days((date::year_month(ymd.year(), ymd.month()) + date::months(1)) / 1);
      continue;
    }
    if (!DayMatches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                    date::weekday(day).c_encoding())) {
      m = day + days(1);
      continue;
    }
    const auto hour = std::chrono::floor<hours>(m - day);
    if (!cron_.hours.test(static_cast<size_t>(hour.count()))) {
      m = day + hour + hours(1);
      continue;
    }
    if (!cron_.minutes.test(static_cast<size_t>((m - day - hour).count()))) {
      m += minutes(1);
      continue;
    }
    const date::local_seconds candidate(m.time_since_epoch());
    if (zone_ == nullptr) {
      const sys_seconds at(candidate.time_since_epoch());
      if (at > t) return at;
    } else {
      const date::local_info info = zone_->get_info(candidate);
      const auto at = [&](const date::sys_info& i) {
        return sys_seconds(candidate.time_since_epoch() - i.offset);
      };
      if (info.result == date::local_info::unique && at(info.first) > t) return at(info.first);
      if (info.result == date::local_info::nonexistent && info.second.begin > t) {
        return info.second.begin;  // the first instant after the jump
      }
      if (info.result == date::local_info::ambiguous) {
        if (at(info.first) > t) return at(info.first);
        if (every_hour && at(info.second) > t) return at(info.second);
      }
    }
    m += minutes(1);
  }
  return std::nullopt;
}

sys_seconds Schedule::NextAfter(sys_seconds t) const {
  if (every_.count() > 0) {
    const int64_t n = t.time_since_epoch().count() / every_.count();
    return sys_seconds((n + 1) * every_);
  }
  return CronNextAfter(t).value_or(sys_seconds::max());
}

std::optional<sys_seconds> Schedule::LatestAtOrBefore(sys_seconds t) const {
  if (every_.count() > 0) {
    return sys_seconds(t.time_since_epoch().count() / every_.count() * every_);
  }
  using std::chrono::days;
  using std::chrono::hours;
  // Look back ever further until a slot falls in the window, then walk to the last one.
  for (const std::chrono::seconds window :
       {std::chrono::seconds(hours(1)), std::chrono::seconds(days(1)),
        std::chrono::seconds(days(32)), std::chrono::seconds(days(367)),
        std::chrono::seconds(days(366 * 9))}) {
    auto slot = CronNextAfter(t - window);
    if (!slot || *slot > t) continue;
    for (auto next = CronNextAfter(*slot); next && *next <= t; next = CronNextAfter(*slot)) {
      slot = next;
    }
    return slot;
  }
  return std::nullopt;
}

std::string Schedule::zone_name() const {
  return zone_ != nullptr ? std::string(zone_->name()) : "UTC";
}

std::optional<std::chrono::seconds> ParseDuration(std::string_view text) { return Duration(text); }

}  // namespace backup

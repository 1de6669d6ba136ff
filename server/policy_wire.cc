#include "server/policy_wire.h"

#include <algorithm>
#include <chrono>

#include "policy/retention.h"
#include "policy/schedule.h"

namespace backup {

using std::chrono::seconds;
using std::chrono::sys_seconds;

collector::ScheduledBackupPolicy PolicyToWire(const PolicyRecord& p) {
  collector::ScheduledBackupPolicy wire;
  wire.set_name(p.name);
  wire.mutable_selector()->set_namespace_(p.ns);
  wire.mutable_selector()->set_name(p.collection);
  wire.mutable_selector()->mutable_labels()->insert(p.labels.begin(), p.labels.end());
  wire.set_schedule(p.schedule);
  wire.set_store(p.store);
  wire.set_include_files(p.include_files);
  auto& r = *wire.mutable_retention();
  r.set_keep_last(p.keep_last);
  r.set_keep_daily(p.keep_daily);
  r.set_keep_weekly(p.keep_weekly);
  r.set_keep_monthly(p.keep_monthly);
  if (p.keep_within_s > 0) r.set_keep_within(FormatDuration(seconds(p.keep_within_s)));
  if (p.jitter_s > 0) wire.set_jitter(FormatDuration(seconds(p.jitter_s)));
  wire.set_verify(p.verify);
  wire.set_paused(p.paused);
  wire.set_created_by(p.created_by);
  wire.set_created_at(p.created_at_ms / 1000);
  wire.set_updated_at(p.updated_at_ms / 1000);
  wire.set_last_slot(p.last_slot);
  if (auto schedule = Schedule::Parse(p.schedule)) {
    wire.set_time_zone(schedule->zone_name());
    const auto now = std::chrono::time_point_cast<seconds>(std::chrono::system_clock::now());
    const sys_seconds after = std::max(now, sys_seconds(seconds(p.last_slot)));
    if (!p.paused) wire.set_next_slot(schedule->NextAfter(after).time_since_epoch().count());
  }
  return wire;
}

}  // namespace backup

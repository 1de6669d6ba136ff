// A backup policy as the wire shows it (collector.ScheduledBackupPolicy), with its time
// zone and next slot. Pure; thread-safe.
#pragma once

#include "backup_policies.pb.h"
#include "common/records.h"

namespace backup {

collector::ScheduledBackupPolicy PolicyToWire(const PolicyRecord& policy);

}  // namespace backup

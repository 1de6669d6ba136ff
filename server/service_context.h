// What every RPC service needs: the control store, the data layout, the backup roots
// and the defaults for new jobs. Shared read-only by all RPC threads.
#pragma once

#include <filesystem>
#include <vector>

#include "common/control_store.h"
#include "common/data_layout.h"
#include "server/job_waiter.h"

namespace backup {

struct ServiceContext {
  ControlStore* store = nullptr;
  DataLayout layout{"./data"};
  // Allowed backup destinations; the first is the default (layout.BackupsRoot()).
  std::vector<std::filesystem::path> backup_roots;
  int default_max_attempts = 3;
  WaitOptions wait;
};

}  // namespace backup

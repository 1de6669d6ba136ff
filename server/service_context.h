// What every RPC service needs: the job queue and the catalogue, the data layout, the
// backup roots and the defaults for new jobs. Shared read-only by all RPC threads.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace asio {
class thread_pool;
}

#include "common/data_layout.h"
#include "control/catalog.h"
#include "control/job_queue.h"
#include "control/policy_store.h"
#include "server/access_control.h"
#include "server/job_watch_hub.h"
#include "storage/store_set.h"

namespace backup {

struct ServiceContext {
  AccessControl* access = nullptr;  // who may call what; never null while serving
  JobQueue* jobs = nullptr;
  Catalog* catalog = nullptr;
  PolicyStore* policies = nullptr;
  DataLayout layout{"./data"};
  // Allowed backup destinations; the first is the default (layout.BackupsRoot()).
  std::vector<std::filesystem::path> backup_roots;
  // The backup stores and how new backups are written; never null while serving.
  const StoreSet* stores = nullptr;
  int default_max_attempts = 3;
  // Follows jobs for WatchJob streams and waiting calls; never null while serving.
  JobWatchHub* hub = nullptr;
  // Runs the database work of callback-API calls off gRPC's threads.
  asio::thread_pool* call_pool = nullptr;
  // What a submission without `wait` means: true, answer when its job ends (the Collector
  // API's synchronous meaning); false, answer at once as with wait = false.
  bool wait_by_default = true;
  // The node this process runs on (--node; "" on a single host): a restore into a new
  // collection whose backup any node reads runs here (control/node_routing.h).
  std::string node;
};

}  // namespace backup

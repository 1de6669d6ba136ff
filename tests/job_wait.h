// Following many jobs to their end over the BackupJobs API, for the tests that start real
// processes (chaos, fleet).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "backup_jobs.grpc.pb.h"

namespace backup::testing {

// Polls every job of `ids` through `jobs` until all ended or `limit` passed; returns the
// ended ones by id. A call that fails (say while PostgreSQL restarts) is asked again in
// the next round.
inline std::map<std::string, collector::Job> WaitForJobsToEnd(collector::BackupJobs::Stub& jobs,
                                                              const std::vector<std::string>& ids,
                                                              std::chrono::seconds limit) {
  std::map<std::string, collector::Job> ended;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (ended.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& id : ids) {
      if (ended.count(id)) continue;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      collector::GetJobRequest get;
      get.set_job_id(id);
      collector::GetJobResponse got;
      if (!jobs.GetJob(&ctx, get, &got).ok()) continue;
      const auto state = got.job().state();
      if (state == collector::SUCCEEDED || state == collector::FAILED ||
          state == collector::CANCELLED) {
        ended[id] = got.job();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ended;
}

}  // namespace backup::testing

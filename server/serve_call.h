// The edge of every RPC: authenticate the caller, run the work with its principal, write
// the audit line for calls that change something, and turn the outcome into a gRPC status.
// A handler cannot reach the catalogue without a Principal, and cannot forget the audit.
// Thread-safety: stateless; call from any RPC thread.
#pragma once

#include <string>
#include <string_view>

#include <grpcpp/server_context.h>

#include "server/access_control.h"
#include "server/grpc_status.h"
#include "server/service_context.h"

namespace backup {

inline Result<Principal> Authenticate(const ServiceContext& ctx, grpc::ServerContextBase& context) {
  return ctx.access->Authenticate(context.client_metadata(), context.auth_context().get(),
                                  context.peer());
}

// A call that only reads: `work(principal)` returns the Status to answer with.
template <typename Work>
grpc::Status ServeRead(const ServiceContext& ctx, grpc::ServerContext& context, Work&& work) {
  auto who = Authenticate(ctx, context);
  if (!who) return ToGrpc(who.error());
  return Answer(work(*who));
}

// A call that changes something: as ServeRead, then one audit line with `describe()`
// ("collection=prod/users job=..."), evaluated after the work so it can name the job.
// A refused caller is audited too, as principal "-".
template <typename Work, typename Describe>
grpc::Status ServeChange(const ServiceContext& ctx, grpc::ServerContext& context,
                         std::string_view call, Work&& work, Describe&& describe) {
  auto who = Authenticate(ctx, context);
  if (!who) {
    Principal unknown{"-", Role::kViewer, {}, context.peer()};
    Audit(unknown, call, describe(), Fail(who.error()));
    return ToGrpc(who.error());
  }
  Status outcome = work(*who);
  Audit(*who, call, describe(), outcome);
  return Answer(outcome);
}

// The job `job_id`, once `who` may see it with `needed` (viewer to read, operator to
// cancel). kInvalidArgument for an empty or over-long id, kNotFound for an unknown one.
inline Result<Job> VisibleJob(const ServiceContext& ctx, const Principal& who,
                              const std::string& job_id, Role needed, std::string_view call) {
  if (job_id.empty())
    return Fail(Error::InvalidArgument(std::string(call) + ": job_id is required"));
  if (job_id.size() > 64) {
    return Fail(Error::InvalidArgument(std::string(call) + ": job_id \"" + job_id.substr(0, 64) +
                                       "...\" is not a job id"));
  }
  auto job = ctx.jobs->GetJob(job_id);
  if (!job) return Fail(job.error());
  BACKUP_TRY(Require(who, needed, job->collection.ns, call), "job " + job_id);
  return job;
}

// The listing restriction for `who`: its namespace patterns, or none when it sees all.
inline std::vector<std::string> VisibleNamespaces(const Principal& who) {
  return who.scope.IsEverything() ? std::vector<std::string>{} : who.scope.patterns();
}

}  // namespace backup

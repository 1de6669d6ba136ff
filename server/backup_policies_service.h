// collector.BackupPolicies: create, read, change, pause and delete backup policies, and
// apply (or preview) a policy's retention. A policy acts in its selector's namespace:
// changing it needs the admin role there (its retention deletes backups), reading it the
// viewer role.
// Thread-safety: all methods are called concurrently by gRPC's threads.
#pragma once

#include "backup_policies.grpc.pb.h"
#include "server/access_control.h"
#include "server/service_context.h"

namespace backup {

class BackupPoliciesService final : public collector::BackupPolicies::Service {
 public:
  explicit BackupPoliciesService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status CreatePolicy(grpc::ServerContext*, const collector::CreatePolicyRequest*,
                            collector::PolicyResponse*) override;
  grpc::Status GetPolicy(grpc::ServerContext*, const collector::GetPolicyRequest*,
                         collector::PolicyResponse*) override;
  grpc::Status ListPolicies(grpc::ServerContext*, const collector::ListPoliciesRequest*,
                            collector::ListPoliciesResponse*) override;
  grpc::Status UpdatePolicy(grpc::ServerContext*, const collector::UpdatePolicyRequest*,
                            collector::PolicyResponse*) override;
  grpc::Status SetPolicyPaused(grpc::ServerContext*, const collector::SetPolicyPausedRequest*,
                               collector::PolicyResponse*) override;
  grpc::Status DeletePolicy(grpc::ServerContext*, const collector::DeletePolicyRequest*,
                            collector::DeletePolicyResponse*) override;
  grpc::Status ForgetBackups(grpc::ServerContext*, const collector::ForgetBackupsRequest*,
                             collector::ForgetBackupsResponse*) override;

 private:
  Status DoCreate(const Principal& who, const collector::ScheduledBackupPolicy& wire,
                  collector::PolicyResponse& response);
  Status DoUpdate(const Principal& who, const collector::ScheduledBackupPolicy& wire,
                  collector::PolicyResponse& response);
  Status DoSetPaused(const Principal& who, const collector::SetPolicyPausedRequest& request,
                     collector::PolicyResponse& response);
  Status DoForget(const Principal& who, const collector::ForgetBackupsRequest& request,
                  collector::ForgetBackupsResponse& response);
  // The policy `name`, once `who` has `needed` in its namespace.
  Result<PolicyRecord> Visible(const Principal& who, const std::string& name, Role needed,
                               std::string_view call);
  Status Answer(const std::string& name, collector::PolicyResponse& response);

  const ServiceContext& ctx_;
};

}  // namespace backup

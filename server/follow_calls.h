// The two kinds of call that follow a job without holding a thread, on gRPC's callback
// API: a WatchJob stream, and a job-submitting call (BackupCollection, RestoreBackup,
// VerifyBackup) that answers when its job ends. Each authenticates on gRPC's thread,
// does its database work on the call pool (ServiceContext::call_pool), then registers
// with the JobWatchHub, which tells it of every change until the job ends, the deadline
// comes, or the client goes away.
//
// Thread-safety: the hub's thread, the call pool and gRPC's threads all reach these
// objects; each guards its state with its own mutex. gRPC operations are never started
// after Finish, and the call's ServerContext is only touched on gRPC's thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <grpcpp/support/server_callback.h>

#include "backup_jobs.pb.h"
#include "server/access_control.h"
#include "server/job_submission.h"
#include "server/job_watch_hub.h"
#include "server/service_context.h"

namespace backup {

// A WatchJob stream: the job as it is, then each change, then OK at its end
// (DEADLINE_EXCEEDED when the deadline comes first, CANCELLED when the client leaves).
class WatchStream final : public grpc::ServerWriteReactor<collector::Job>, public JobFollower {
 public:
  // Starts the stream for `request`; gRPC owns the returned reactor until OnDone.
  static grpc::ServerWriteReactor<collector::Job>* Start(const ServiceContext& ctx,
                                                         grpc::CallbackServerContext* context,
                                                         const collector::WatchJobRequest& request);

  bool OnJob(const Job& job) override;
  void OnEnd(const Error& why) override;
  bool Closed() const override;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  WatchStream(const ServiceContext& ctx, std::string job_id)
      : ctx_(ctx), job_id_(std::move(job_id)) {}
  // On the call pool: checks the job is visible to `who`, then follows it.
  void Begin(const std::shared_ptr<WatchStream>& self, const Principal& who,
             const std::string& job_id, std::chrono::system_clock::time_point deadline);
  // REQUIRES: mu_ held.
  void SendLocked(collector::Job job);
  void FinishLocked(const grpc::Status& status);

  const ServiceContext& ctx_;
  const std::string job_id_;
  mutable std::mutex mu_;
  std::optional<JobMark> seen_;            // the last state sent; guarded by mu_
  collector::Job writing_;                 // the message in flight; guarded by mu_
  bool write_in_flight_ = false;           // guarded by mu_
  std::optional<collector::Job> pending_;  // the newest state not yet sent; guarded by mu_
  std::optional<grpc::Status> finish_;     // to send after the writes; guarded by mu_
  bool finished_ = false;                  // Finish was called; guarded by mu_
  bool closed_ = false;                    // the client left; guarded by mu_
  bool begun_ = false;                     // Begin has returned; guarded by mu_
  std::shared_ptr<WatchStream> self_;      // keeps this alive until OnDone
};

// What a job-submitting call needs from its service.
struct SubmissionHooks {
  std::string call;  // for the audit line: "BackupCollection"
  AnswerWhen when = AnswerWhen::kAtOnce;
  // Validates, checks `who`'s rights, writes the job and fills the response's own fields.
  std::function<Result<Job>(const Principal& who)> submit;
  // Fills the response's job (and, for `ended` with the job SUCCEEDED, its stored result).
  std::function<void(const Job& job, bool ended)> answer;
  // The audit line's fields, read after the call's outcome is known.
  std::function<AuditFields()> describe;
};

// A job-submitting call: answers at once, or (when it waits) when its job ends.
class SubmissionCall final : public grpc::ServerUnaryReactor, public JobFollower {
 public:
  static grpc::ServerUnaryReactor* Start(const ServiceContext& ctx,
                                         grpc::CallbackServerContext* context,
                                         SubmissionHooks hooks);

  bool OnJob(const Job& job) override;
  void OnEnd(const Error& why) override;
  bool Closed() const override;

  void OnCancel() override;
  void OnDone() override;

 private:
  SubmissionCall(const ServiceContext& ctx, SubmissionHooks hooks)
      : ctx_(ctx), hooks_(std::move(hooks)) {}
  // On the call pool: submits, then answers or follows.
  void Begin(const std::shared_ptr<SubmissionCall>& self,
             std::chrono::system_clock::time_point deadline);
  // Takes the right to answer: true for exactly one caller.
  bool Claim();
  // Audits and finishes with `outcome`. REQUIRES: Claim() returned true.
  void Complete(const Status& outcome);
  // The outcome for a waiting call whose job is now `job`.
  Status Ended(const Job& job);

  const ServiceContext& ctx_;
  SubmissionHooks hooks_;
  std::optional<Principal> who_;
  mutable std::mutex mu_;
  std::optional<Job> last_;  // guarded by mu_
  bool finished_ = false;    // the answer is claimed; guarded by mu_
  bool closed_ = false;      // guarded by mu_
  bool begun_ = false;       // guarded by mu_
  std::shared_ptr<SubmissionCall> self_;
};

}  // namespace backup

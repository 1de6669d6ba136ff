#include "server/follow_calls.h"

#include <spdlog/spdlog.h>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "common/wire.h"
#include "server/grpc_status.h"
#include "server/serve_call.h"

namespace backup {
namespace {

const grpc::Status kClientLeft(grpc::StatusCode::CANCELLED, "the client cancelled the call");

// Drops a call's reference to itself at OnDone. The hub may hold the last reference and
// destroy the call on its own thread; taking `mu` first orders every write made under it
// (and the construction, which Start finishes under it) before that destruction. gRPC's
// own hand-offs between its threads do not establish that order for ThreadSanitizer, and
// the shared_ptr count alone orders only what this thread has seen.
template <typename Call>
void ReleaseSelf(std::mutex& mu, std::shared_ptr<Call>& self) {
  std::shared_ptr<Call> keep;  // released after the lock: this may be the last reference
  std::lock_guard lock(mu);
  keep = std::move(self);
}

}  // namespace

// --- WatchStream ------------------------------------------------------------------------

grpc::ServerWriteReactor<collector::Job>* WatchStream::Start(
    const ServiceContext& ctx, grpc::CallbackServerContext* context,
    const collector::WatchJobRequest& request) {
  std::shared_ptr<WatchStream> stream(new WatchStream(ctx, request.job_id()));
  stream->self_ = stream;
  std::lock_guard lock(stream->mu_);
  auto who = Authenticate(ctx, *context);
  if (!who) {
    stream->FinishLocked(ToGrpc(who.error()));
    return stream.get();
  }
  if (auto reserved = ctx.hub->Reserve(); !reserved) {
    stream->FinishLocked(ToGrpc(reserved.error().Context("WatchJob")));
    return stream.get();
  }
  asio::post(*ctx.call_pool,
             [stream, who = std::move(*who), job_id = request.job_id(),
              deadline = context->deadline()] { stream->Begin(stream, who, job_id, deadline); });
  return stream.get();
}

void WatchStream::Begin(const std::shared_ptr<WatchStream>& self, const Principal& who,
                        const std::string& job_id, std::chrono::system_clock::time_point deadline) {
  auto visible = VisibleJob(ctx_, who, job_id, Role::kViewer, "WatchJob");
  Status followed = visible ? Status() : Fail(visible.error());
  if (visible) {
    followed = ctx_.hub->Follow(self, job_id, deadline);
  } else {
    ctx_.hub->Release();
  }
  std::unique_lock lock(mu_);
  begun_ = true;
  if (!followed) FinishLocked(ToGrpc(followed.error()));
  if (closed_ && !finished_) {  // the client left while this ran: OnCancel left it to us
    lock.unlock();
    ctx_.hub->Forget(this);
    lock.lock();
    FinishLocked(kClientLeft);
  }
}

bool WatchStream::OnJob(const Job& job) {
  std::lock_guard lock(mu_);
  if (finished_ || finish_ || closed_) return false;
  const JobMark mark = JobMark::Of(job);
  if (seen_ == mark) return true;
  seen_ = mark;
  SendLocked(ToProto(job));
  if (!IsTerminal(job.state)) return true;
  FinishLocked(grpc::Status::OK);
  return false;
}

void WatchStream::OnEnd(const Error& why) {
  std::lock_guard lock(mu_);
  if (why.code() == Code::kDeadlineExceeded && seen_) {
    FinishLocked(
        grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                     "job " + job_id_ + " is still " + std::string(ToString(seen_->state))));
    return;
  }
  FinishLocked(ToGrpc(why.Context("WatchJob")));
}

bool WatchStream::Closed() const {
  std::lock_guard lock(mu_);
  return closed_ || finished_ || finish_.has_value();
}

void WatchStream::SendLocked(collector::Job job) {
  if (write_in_flight_) {
    pending_ = std::move(job);  // only the newest state matters; the terminal one is last
    return;
  }
  writing_ = std::move(job);
  write_in_flight_ = true;
  StartWrite(&writing_);
}

void WatchStream::FinishLocked(const grpc::Status& status) {
  if (finished_) return;
  if (write_in_flight_) {
    if (!finish_) finish_ = status;  // sent once the writes are done
    return;
  }
  finished_ = true;
  Finish(status);
}

void WatchStream::OnWriteDone(bool ok) {
  std::unique_lock lock(mu_);
  write_in_flight_ = false;
  if (!ok) {  // the stream broke: nothing more can be sent
    closed_ = true;
    pending_.reset();
    lock.unlock();
    ctx_.hub->Forget(this);
    lock.lock();
    FinishLocked(finish_.value_or(kClientLeft));
    return;
  }
  collector::Job().Swap(&writing_);  // a quiet stream keeps no copy of its last message
  if (pending_) {
    SendLocked(std::move(*pending_));
    pending_.reset();
    return;
  }
  if (finish_) FinishLocked(*finish_);
}

void WatchStream::OnCancel() {
  std::unique_lock lock(mu_);
  closed_ = true;
  if (!begun_) return;  // Begin finishes the call
  lock.unlock();
  ctx_.hub->Forget(this);
  lock.lock();
  FinishLocked(kClientLeft);
}

void WatchStream::OnDone() { ReleaseSelf(mu_, self_); }

// --- SubmissionCall ---------------------------------------------------------------------

grpc::ServerUnaryReactor* SubmissionCall::Start(const ServiceContext& ctx,
                                                grpc::CallbackServerContext* context,
                                                SubmissionHooks hooks) {
  std::shared_ptr<SubmissionCall> call(new SubmissionCall(ctx, std::move(hooks)));
  call->self_ = call;
  auto who = Authenticate(ctx, *context);
  if (!who) {
    call->who_ = Principal{"-", Role::kViewer, {}, context->peer()};
    if (call->Claim()) call->Complete(Fail(who.error()));
    return call.get();
  }
  call->who_ = std::move(*who);
  if (call->hooks_.when != AnswerWhen::kAtOnce) {
    if (auto reserved = ctx.hub->Reserve(); !reserved) {
      if (call->Claim()) call->Complete(Fail(reserved.error().Context(call->hooks_.call)));
      return call.get();
    }
  }
  asio::post(*ctx.call_pool,
             [call, deadline = context->deadline()] { call->Begin(call, deadline); });
  return call.get();
}

void SubmissionCall::Begin(const std::shared_ptr<SubmissionCall>& self,
                           std::chrono::system_clock::time_point deadline) {
  const bool waits = hooks_.when != AnswerWhen::kAtOnce;
  auto job = hooks_.submit(*who_);
  if (!job || !waits) {
    if (waits) ctx_.hub->Release();
    if (job) hooks_.answer(*job, false);
    if (Claim()) Complete(job ? Status() : Fail(job.error()));
    return;
  }
  if (auto followed = ctx_.hub->Follow(self, job->id, deadline); !followed) {
    if (Claim()) Complete(Fail(followed.error()));
    return;
  }
  std::unique_lock lock(mu_);
  begun_ = true;
  if (!closed_ || finished_) return;
  finished_ = true;  // the client left while this ran: OnCancel left the answer to us
  lock.unlock();
  ctx_.hub->Forget(this);
  Complete(Fail(Error::Cancelled("the client cancelled the call")));
}

Status SubmissionCall::Ended(const Job& job) {
  hooks_.answer(job, true);  // the job (and its result if it succeeded): the audit names it
  if ((job.state == JobState::kFailed || job.state == JobState::kCancelled) && job.error) {
    return Fail(job.error->Context(std::string(ToString(job.kind)) + " job " + job.id + " " +
                                   std::string(ToString(job.state))));
  }
  if (hooks_.when == AnswerWhen::kEndedOrDeadline && !IsTerminal(job.state)) {
    return Fail(StillRunningAtDeadline(job));
  }
  return {};
}

bool SubmissionCall::OnJob(const Job& job) {
  {
    std::lock_guard lock(mu_);
    if (finished_ || closed_) return false;
    last_ = job;
    if (!IsTerminal(job.state)) return true;
    finished_ = true;
  }
  Complete(Ended(job));
  return false;
}

void SubmissionCall::OnEnd(const Error& why) {
  std::optional<Job> last;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    last = last_;
  }
  Complete(why.code() == Code::kDeadlineExceeded && last ? Ended(*last) : Fail(why));
}

bool SubmissionCall::Closed() const {
  std::lock_guard lock(mu_);
  return closed_ || finished_;
}

bool SubmissionCall::Claim() {
  std::lock_guard lock(mu_);
  if (finished_) return false;
  finished_ = true;
  return true;
}

void SubmissionCall::Complete(const Status& outcome) {
  Audit(*who_, hooks_.call, hooks_.describe(), outcome);
  Finish(Answer(outcome));
}

void SubmissionCall::OnCancel() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    if (!begun_ || finished_) return;  // Begin (or Start) answers
    finished_ = true;
  }
  ctx_.hub->Forget(this);
  Complete(Fail(Error::Cancelled("the client cancelled the call")));
}

void SubmissionCall::OnDone() { ReleaseSelf(mu_, self_); }

}  // namespace backup

// Progress reported by a running job never goes backwards and stays within its total.
#include "worker/job_context.h"

#include <gtest/gtest.h>

namespace backup {
namespace {

TEST(JobContext, ProgressNeverGoesBackwards) {
  JobContext ctx(Job{.id = "job-1"}, Lease{"job-1", "w", 1});
  ctx.SetTotals(1000, 2);
  int64_t probe = 600;
  ctx.SetBytesProbe([&] { return probe; });
  EXPECT_EQ(ctx.Snapshot().bytes_done, 600);
  probe = 1500;  // an estimate overshooting its total is clamped
  EXPECT_EQ(ctx.Snapshot().bytes_done, 1000);
  ctx.SetBytesProbe(nullptr);
  ctx.SetBytesDone(900);  // the real size turned out smaller than the estimate
  ctx.SetTotals(900, 2);
  Progress p = ctx.Snapshot();
  EXPECT_EQ(p.bytes_done, 1000);
  EXPECT_EQ(p.bytes_total, 1000);
  ctx.AddItems(1);
  EXPECT_EQ(ctx.Snapshot().items_done, 1);
}

TEST(JobContext, FirstStopReasonWins) {
  JobContext ctx(Job{.id = "job-1"}, Lease{"job-1", "w", 1});
  EXPECT_FALSE(ctx.cancelled());
  ctx.RequestStop(StopReason::kCancelRequested);
  ctx.RequestStop(StopReason::kShutdown);
  EXPECT_TRUE(ctx.cancelled());
  EXPECT_EQ(ctx.stop_reason(), StopReason::kCancelRequested);
}

}  // namespace
}  // namespace backup

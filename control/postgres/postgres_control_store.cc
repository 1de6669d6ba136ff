#include "control/postgres/postgres_control_store.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>

namespace backup {
namespace {

constexpr std::string_view kChannel = "backup_jobs";

// The lease condition every worker write is fenced by; $1-$3 are the lease's fields.
constexpr std::string_view kFence =
    " WHERE job_id = $1 AND lease_owner = $2 AND attempt = $3 AND state = 'RUNNING'";

// A NULL $6 (no totals given) keeps the totals the heartbeats recorded.
constexpr std::string_view kSucceedJob = R"sql(
UPDATE jobs SET state = 'SUCCEEDED', result = $4, phase = 'done',
                finished_at = backup_now_ms($5), updated_at = backup_now_ms($5),
                bytes_total = coalesce($6, bytes_total), bytes_done = coalesce($6, bytes_total),
                items_total = coalesce($7, items_total), items_done = coalesce($7, items_total))sql";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexDigit(hex[i]), lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

// The database's clock as seen from here: this host's clock plus the offset measured
// against the server (refreshed every minute by the listener), so times this process
// computes (a retry's due time, a job's created_at) agree with the leases the database
// sets, whatever this host's clock says.
class PostgresControlStore::DatabaseClock final : public Clock {
 public:
  int64_t NowMs() const override { return SystemClock::Get().NowMs() + offset_ms_.load(); }
  void Measure(pg::Connection& c) {
    const int64_t before = SystemClock::Get().NowMs();
    auto rows = c.Query("SELECT backup_now_ms(NULL)");
    const int64_t after = SystemClock::Get().NowMs();
    if (rows && rows->Count() == 1) offset_ms_ = rows->Int(0, 0) - (before + after) / 2;
  }

 private:
  std::atomic<int64_t> offset_ms_{0};
};

PostgresControlStore::PostgresControlStore(PostgresControlStoreOptions options)
    : options_(std::move(options)) {}

PostgresControlStore::~PostgresControlStore() {
  stopping_ = true;
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
  }
  if (listener_.joinable()) listener_.join();
  if (stop_fd_ >= 0) close(stop_fd_);
}

Result<std::unique_ptr<PostgresControlStore>> PostgresControlStore::Open(
    PostgresControlStoreOptions options) {
  if (options.pool_size < 1) options.pool_size = 1;
  std::unique_ptr<PostgresControlStore> store(new PostgresControlStore(std::move(options)));
  BACKUP_TRY(store->Migrate(), "migrate control database");
  if (store->options_.clock) {
    store->clock_ = store->options_.clock;
  } else {
    auto clock = std::make_unique<DatabaseClock>();
    auto c = store->Acquire();
    if (!c) return Fail(c.error());
    clock->Measure(**c);
    store->Release(std::move(*c));
    store->clock_ = clock.get();
    store->own_clock_ = std::move(clock);
  }
  store->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (store->stop_fd_ < 0) return Fail(Error::FromErrno(errno, "eventfd"));
  store->listener_ = std::thread([s = store.get()] { s->ListenLoop(); });
  return store;
}

Result<std::unique_ptr<pg::Connection>> PostgresControlStore::Acquire() {
  std::unique_ptr<pg::Connection> c;
  {
    std::unique_lock lock(pool_mu_);
    pool_cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.pool_size; });
    if (!idle_.empty()) {
      c = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  if (!c) {
    auto opened = pg::Connection::Open(options_.conninfo);
    if (!opened) {
      Release(nullptr);
      return Fail(opened.error());
    }
    return std::make_unique<pg::Connection>(std::move(*opened));
  }
  if (!c->Healthy()) {
    if (auto reset = c->Reset(); !reset) {
      Release(nullptr);
      return Fail(reset.error());
    }
  }
  return c;
}

void PostgresControlStore::Release(std::unique_ptr<pg::Connection> c) {
  {
    std::lock_guard lock(pool_mu_);
    // A broken connection, or one left inside a transaction, is closed; the next caller
    // opens a fresh one.
    if (c && c->Healthy() && !c->InTransaction()) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
  }
  pool_cv_.notify_one();
}

Status PostgresControlStore::WithConnection(std::string_view what, const Work& work) {
  for (int round = 0;; ++round) {
    auto c = Acquire();
    if (!c) return Fail(c.error().Context(what));
    Status s = work(**c);
    const bool broken = !(*c)->Healthy();
    Release(std::move(*c));
    // A read on a connection the server closed (a restart since its last use) runs again
    // once on a fresh one.
    if (!s && broken && round == 0) continue;
    if (!s) return Fail(s.error().Context(what));
    return {};
  }
}

Status PostgresControlStore::Transact(std::string_view what, const Work& work, bool notify,
                                      bool* commit_unknown) {
  for (int round = 0;; ++round) {
    auto c = Acquire();
    if (!c) return Fail(c.error().Context(what));
    pg::Connection& conn = **c;
    if (auto begun = conn.Exec("BEGIN"); !begun) {
      const bool broken = !conn.Healthy();
      Release(std::move(*c));
      if (broken && round == 0) continue;  // nothing ran: safe to run again
      return Fail(begun.error().Context(what));
    }
    Status s = work(conn);
    if (s && notify) s = conn.Exec("NOTIFY " + std::string(kChannel));
    if (s) {
      s = conn.Exec("COMMIT");
      if (!s && !conn.Healthy() && commit_unknown != nullptr) *commit_unknown = true;
    } else if (conn.Healthy()) {
      (void)conn.Exec("ROLLBACK");
    }
    Release(std::move(*c));
    if (!s) return Fail(s.error().Context(what));
    if (notify) NotifyChange();
    return {};
  }
}

Status PostgresControlStore::FencedWrite(const Lease& lease, std::string_view what,
                                         std::string_view update, std::vector<pg::Value> params,
                                         const Work& then, bool* commit_unknown) {
  params.insert(params.begin(), {std::string_view(lease.job_id), std::string_view(lease.owner),
                                 int64_t{lease.attempt}});
  const std::string sql = std::string(update) + std::string(kFence);
  return Transact(
      what,
      [&](pg::Connection& c) -> Status {
        auto touched = c.Run(sql, params);
        if (!touched) return Fail(touched.error());
        if (*touched != 1) {
          return Fail(Error::Aborted(std::string(what) + ": job " + lease.job_id +
                                     " is no longer leased to this worker"));
        }
        return then ? then(c) : Status{};
      },
      /*notify=*/true, commit_unknown);
}

Status PostgresControlStore::SucceedJob(const Lease& lease, std::string_view what,
                                        const std::string& result,
                                        std::optional<std::pair<int64_t, int64_t>> totals,
                                        const Work& then) {
  std::optional<int64_t> bytes, items;
  if (totals) {
    bytes = totals->first;
    items = totals->second;
  }
  bool unknown = false;
  Status s = FencedWrite(lease, what, kSucceedJob, {pg::Bytes{result}, Now(), bytes, items}, then,
                         &unknown);
  if (s || !unknown) return s;
  spdlog::warn("job {}: {}: the connection broke during COMMIT; reading the job back", lease.job_id,
               what);
  for (int i = 0; i < 60; ++i) {
    auto job = GetJob(lease.job_id);
    if (job) {
      const bool committed = job->state == JobState::kSucceeded &&
                             job->lease_owner == lease.owner && job->attempt == lease.attempt;
      spdlog::info("job {}: {} {}", lease.job_id, what,
                   committed ? "had committed" : "had not committed");
      return committed ? Status{} : s;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return s;
}

uint64_t PostgresControlStore::ChangeVersion() const { return changes_.Version(); }

void PostgresControlStore::NotifyChange() { changes_.Bump(); }

void PostgresControlStore::WaitForChange(uint64_t seen, int64_t timeout_ms) const {
  changes_.Wait(seen, timeout_ms);
}

// LISTENs on its own connection and bumps the change version at every notification.
// After a lost connection it reconnects with backoff (0.1 s doubling to 5 s) and bumps
// the version once, since notifications sent meanwhile are lost: waiters look again.
void PostgresControlStore::ListenLoop() {
  std::optional<pg::Connection> conn;
  int backoff_ms = 100;
  auto last_clock = std::chrono::steady_clock::now();
  auto sleep_or_stop = [&](int ms) {
    pollfd stop{stop_fd_, POLLIN, 0};
    (void)poll(&stop, 1, ms);
  };
  while (!stopping_) {
    if (!conn || !conn->Healthy()) {
      auto opened = pg::Connection::Open(options_.conninfo);
      if (!opened || !opened->Exec("LISTEN " + std::string(kChannel))) {
        if (opened) conn.reset();
        spdlog::warn("control database: listener reconnecting in {} ms{}", backoff_ms,
                     opened ? "" : ": " + opened.error().message());
        sleep_or_stop(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, 5000);
        continue;
      }
      conn.emplace(std::move(*opened));
      backoff_ms = 100;
      NotifyChange();
    }
    if (own_clock_ && std::chrono::steady_clock::now() - last_clock > std::chrono::minutes(1)) {
      static_cast<DatabaseClock*>(own_clock_.get())->Measure(*conn);
      last_clock = std::chrono::steady_clock::now();
    }
    pollfd fds[2] = {{conn->Socket(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, 1000) <= 0 || (fds[1].revents & POLLIN)) continue;
    if (auto read = conn->ConsumeInput(); !read || !conn->Healthy()) {
      spdlog::warn("control database: listener lost its connection ({}); reconnecting",
                   read ? "closed by the server" : read.error().message());
      conn.reset();
      continue;
    }
    if (!conn->TakeNotifications().empty()) NotifyChange();
  }
}

Result<std::map<std::string, std::string>> DecodeHexMap(std::string_view text) {
  std::map<std::string, std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(',', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view pair = text.substr(at, end - at);
    const size_t colon = pair.find(':');
    if (colon == std::string_view::npos) return Fail(Error::DataLoss("malformed string map"));
    auto key = FromHex(pair.substr(0, colon));
    auto value = FromHex(pair.substr(colon + 1));
    if (!key || !value) return Fail(Error::DataLoss("malformed string map"));
    out[std::move(*key)] = std::move(*value);
    at = end + 1;
  }
  return out;
}

}  // namespace backup

// What every backup-bench scenario shares: its settings, a backupd running in this
// process, fresh folders, and error logging (every failure is printed, not just counted).
// Single-threaded unless stated.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "backup_jobs.grpc.pb.h"
#include "collection_repo.grpc.pb.h"
#include "common/data_layout.h"
#include "server/backup_server.h"

namespace backup::bench {

struct Settings {
  double gb = 1.0;
  int reps = 3;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
};

// A backupd in this process on a fresh (or given) data directory. Exits the process when
// it cannot start or a setup call fails: a benchmark with a broken setup has no figures.
struct Server {
  // `control`: --control ("" for SQLite under the data root).
  Server(const std::filesystem::path& data, int workers, StoreSetOptions stores = {},
         const std::string& control = "");
  ~Server() { server->Shutdown(); }

  // Creates ns/name over gRPC and fills it with `rows` records of `payload` random bytes.
  void Collection(const std::string& ns, const std::string& name, int64_t rows, int payload);
  // A backup submitted over gRPC and followed to its end (wait). Returns the response.
  // `dest`: a plain-format backup at that path; `store`: an archive in that store; neither:
  // an archive in the default store.
  collector::BackupCollectionResponse Backup(const std::string& ns, const std::string& name,
                                             bool files, const std::string& dest = "",
                                             const std::string& store = "");

  std::unique_ptr<BackupServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<collector::CollectionRepo::Stub> repo;
  std::unique_ptr<collector::BackupJobs::Stub> jobs;
  std::unique_ptr<DataLayout> layout;
};

void Cleanup(const std::filesystem::path& root);
std::filesystem::path FreshDir(const Settings& s, const std::string& name);

// Counts an error of `scenario` and prints it to stderr (the first 10 of each counter in
// full, then every 1000th), so a figure is never reported without its failures. Thread-safe.
void LogError(const std::string& scenario, const std::string& message,
              std::atomic<int64_t>& errors);

// One client on its own connection to backupd at `port`: `count` backups of bench/tiny
// submitted without waiting, each failure logged under `scenario`.
void EnqueueFrom(const std::string& scenario, int port, int client, int count,
                 std::atomic<int64_t>& errors);

// The scenarios, each printing its figures through Report().
void Snapshot(const Settings& s);
void Files(const Settings& s);
void Queue(const Settings& s);
void Listing(const Settings& s);
void ControlStores(const Settings& s);
void Availability(const Settings& s);
void Scale(const Settings& s);
void Watch(const Settings& s);
// 9. Off-site: S3 against curl ("s3"), zstd and sealing ("codec"), the local archive
// against the plain snapshot ("archive"); "offsite" runs all three.
void Offsite(const Settings& s, bool s3, bool codec, bool archive);
// Chunked backups: incremental cost, restore, 24 hourly rounds (issue 13).
void Incremental(const Settings& s);
// The page snapshot alone against cp + sync (part of Incremental, on its own).
void CopySpeed(const Settings& s);
// Other ways to cut the snapshot into chunks, on the incremental scenario's change, without
// a store (chunk_study.cc): the database before and after it, and its page size.
void ChunkStudy(const Settings& s);
void ChunkStudyFigures(const std::filesystem::path& before, const std::filesystem::path& after,
                       size_t page);

}  // namespace backup::bench

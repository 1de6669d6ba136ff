// collector.CollectionRepo: the registry (CreateCollection, Discover) and the seed's
// Backup API. BackupCollection validates, writes the job and the pending backup row in
// one transaction, and answers at once (or, with `wait`, when the job ends). Errors
// become gRPC statuses in one place (ToGrpc); successful bodies carry Status OK.
// Thread-safety: all methods are called concurrently by gRPC's threads.
#pragma once

#include "collection_repo.grpc.pb.h"
#include "server/service_context.h"

namespace backup {

class CollectionRepoService final : public collector::CollectionRepo::Service {
 public:
  explicit CollectionRepoService(const ServiceContext& ctx) : ctx_(ctx) {}

  grpc::Status CreateCollection(grpc::ServerContext*, const collector::CreateCollectionRequest*,
                                collector::CreateCollectionResponse*) override;
  grpc::Status Discover(grpc::ServerContext*, const collector::DiscoverRequest*,
                        collector::DiscoverResponse*) override;
  grpc::Status BackupCollection(grpc::ServerContext*, const collector::BackupCollectionRequest*,
                                collector::BackupCollectionResponse*) override;
  grpc::Status ListBackups(grpc::ServerContext*, const collector::ListBackupsRequest*,
                           collector::ListBackupsResponse*) override;

 private:
  Status DoCreateCollection(const collector::CreateCollectionRequest& request,
                            collector::CreateCollectionResponse& response);
  Status DoDiscover(const collector::DiscoverRequest& request,
                    collector::DiscoverResponse& response);
  Status DoBackupCollection(grpc::ServerContext& context,
                            const collector::BackupCollectionRequest& request,
                            collector::BackupCollectionResponse& response);
  Status DoListBackups(const collector::ListBackupsRequest& request,
                       collector::ListBackupsResponse& response);

  const ServiceContext& ctx_;
};

}  // namespace backup

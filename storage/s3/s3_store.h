// S3-compatible object storage as a BackupStore (AWS S3, MinIO, Ceph RGW, R2, B2, s3rver).
// Objects are "<prefix><key>" in one bucket.
//
// Uploads: an object smaller than one part goes up in one PUT; a larger one as a multipart
// upload with up to `parts_in_flight` parts sent at once, each on its own thread, so an
// upload holds at most (parts_in_flight + 1) x part_size bytes. Every part carries its
// Content-MD5 and the SHA-256 of its payload (signed), is retried on its own, and the
// upload is aborted when a part finally fails or the writer is aborted, so no incomplete
// upload is left. Commit() completes the upload, then HEADs the object: it is committed
// only when the size and the ETag (MD5, or MD5 of the parts' MD5s "-N") are the ones sent.
//
// Thread-safety: as BackupStore.
#pragma once

#include "storage/backup_store.h"
#include "storage/s3/s3_client.h"

namespace backup {

class S3Store final : public BackupStore {
 public:
  explicit S3Store(S3Config config) : client_(std::move(config)) {}

  std::string_view type() const override { return "s3"; }
  std::string Locate(std::string_view key) const override { return client_.Locate(key); }
  Result<std::unique_ptr<ObjectWriter>> Put(std::string_view key,
                                            std::optional<int64_t> size) override;
  Status Get(std::string_view key, int64_t offset, int64_t length, const ByteSink& sink) override;
  Result<std::optional<ObjectInfo>> Stat(std::string_view key) override;
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Status AbortIncomplete(std::string_view key) override;

  // Incomplete multipart uploads below the store's prefix (each key once per upload).
  Result<std::vector<std::string>> ListIncompleteUploads();

  S3Client& client() { return client_; }

 private:
  S3Client client_;
};

}  // namespace backup

// Backup stores named on the command line: `--store NAME=URL` (repeatable) and where their
// credentials come from.
//   /var/backups/collector, file:///var/backups/collector     a local folder
//   s3://BUCKET[/PREFIX][?endpoint=URL&region=R&part_size_mb=N&parts_in_flight=N&profile=P]
// With an endpoint, requests go path-style to it (MinIO, Ceph, s3rver); without one, to
// AWS (https://BUCKET.s3.REGION.amazonaws.com). Credentials: the AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN variables, or a shared credentials file (INI,
// the profile's aws_access_key_id, aws_secret_access_key, aws_session_token) when one is
// given. They are never logged nor part of a store's Locate().
//
// Functions are thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "storage/backup_store.h"
#include "storage/s3/s3_client.h"

namespace backup {

struct StoreFlag {
  std::string name;  // [a-z0-9_-]{1,32}
  std::string url;
};

// "offsite=s3://bucket/prefix?..." -> {"offsite", "s3://bucket/prefix?..."}.
Result<StoreFlag> ParseStoreFlag(const std::string& flag);

// The S3 settings of an s3:// URL (credentials not filled in).
Result<S3Config> ParseS3Url(const std::string& url);

// Credentials from `file` (profile `profile`) when given, else from the environment.
// kInvalidArgument when neither has both the key id and the secret.
Result<S3Credentials> LoadCredentials(const std::optional<std::filesystem::path>& file,
                                      const std::string& profile);

// Opens the store a URL names.
Result<std::unique_ptr<BackupStore>> OpenStore(
    const std::string& url, const std::optional<std::filesystem::path>& credentials_file);

}  // namespace backup

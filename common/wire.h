// Conversions between the control database's records and the wire messages. Pure
// functions; thread-safe.
#pragma once

#include "backup.pb.h"
#include "collection.pb.h"
#include "common.pb.h"
#include "common/records.h"

namespace backup {

collector::Status ToProtoStatus(const Error& error);
collector::Status OkStatus();
collector::NamespacedName ToProto(const CollectionName& name);
CollectionName FromProto(const collector::NamespacedName& name);
collector::BackupMetadata ToProto(const BackupRecord& backup);
collector::Collection ToProto(const CollectionRecord& collection);
// The Job message, with its result decoded from the stored response.
collector::Job ToProto(const Job& job);

}  // namespace backup

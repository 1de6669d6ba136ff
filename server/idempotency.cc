#include "server/idempotency.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/sha256.h"

namespace backup {

std::string RequestHash(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map order must not change the hash
    request.SerializeToCodedStream(&coded);
  }
  return Sha256Hex(bytes);
}

Result<std::optional<Job>> FindRepeat(JobQueue& jobs, const std::string& key,
                                      const std::string& hash) {
  if (key.empty()) return std::optional<Job>();
  if (key.size() > 256)
    return Fail(Error::InvalidArgument("idempotency_key is longer than 256 bytes"));
  auto found = jobs.FindByIdempotencyKey(key);
  if (!found) return Fail(found.error());
  if (*found && (*found)->request_hash != hash) {
    return Fail(Error::FailedPrecondition("idempotency_key \"" + key +
                                          "\" was already used for a different request (job " +
                                          (*found)->id + "); use a new key"));
  }
  return found;
}

}  // namespace backup

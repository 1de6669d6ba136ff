// One S3 request at a time, signed by libcurl (CURLOPT_AWS_SIGV4: no signing code of ours),
// retried with backoff when the failure is transient: a connection refused, reset or timed
// out, a stalled transfer, 5xx, 429 and S3's SlowDown / RequestTimeout. Everything else is
// answered at once: 403 (wrong key or secret, a policy that refuses) as kPermissionDenied,
// a missing bucket as kFailedPrecondition, a missing key or upload as kNotFound.
//
// What we still do by hand, and why: the URL (path-style with an endpoint, virtual-hosted
// on AWS), the query string in S3's canonical form (sorted, %-encoded: curl 7.88 signs the
// query as given), the payload's SHA-256 in x-amz-content-sha256 (so the body is signed and
// the server checks it) and Content-MD5 (checked by every S3-compatible server), and the
// S3 XML bodies (read with libxml2).
//
// Thread-safety: Send() may be called from several threads; easy handles are pooled so
// connections are reused.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

struct curl_slist;

namespace backup {

struct S3Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
};

struct S3Config {
  std::string bucket;
  std::string prefix;    // "" or ending in "/": prepended to every key
  std::string endpoint;  // "http://127.0.0.1:9000" (path-style); empty: AWS, virtual-hosted
  std::string region = "us-east-1";
  S3Credentials credentials;
  int64_t part_size = 8 << 20;  // multipart part size (S3: at least 5 MiB)
  int parts_in_flight = 4;      // memory bound of an upload: (parts_in_flight + 1) x part_size
  int max_tries = 6;            // per request, transient failures included
  int64_t retry_base_ms = 200;  // backoff: base x 2^(try-1), at most 10 s, jittered
  int64_t connect_timeout_ms = 5'000;
  int64_t request_timeout_ms = 300'000;  // a whole request (a part) may take at most this
  int64_t stall_seconds = 30;            // a transfer under 1 KiB/s this long is timed out
};

struct S3Request {
  std::string method = "GET";
  std::string key;  // below the prefix; "" for the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;  // sent as is; must outlive Send()
  // When set, a 2xx response body goes here piece by piece instead of into `body`.
  std::function<bool(std::string_view)> sink;
  int64_t range_begin = -1, range_end = -1;  // inclusive byte range, when >= 0
  // Set from another thread to stop the request (it fails with kCancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct S3Response {
  long status = 0;
  std::string body;                            // up to 8 MiB, unless streamed
  std::map<std::string, std::string> headers;  // lowercase names
};

class S3Client {
 public:
  explicit S3Client(S3Config config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Sends the request, retrying transient failures. A streamed GET that fails half way is
  // resumed from the byte it reached (the sink never sees a byte twice).
  Result<S3Response> Send(const S3Request& request);

  const S3Config& config() const { return config_; }
  // "s3://bucket/prefix/key".
  std::string Locate(std::string_view key) const;

 private:
  struct Attempt;
  Result<S3Response> SendOnce(const S3Request& request, int64_t resume_from, Attempt& attempt);
  std::string Url(const S3Request& request) const;
  // The request's headers (a curl_slist*), the payload's SHA-256 and a range among them.
  struct curl_slist* Headers(const S3Request& request, int64_t resume_from) const;
  // Sets every option of one try on a curl handle.
  void Configure(void* curl, void* state, const S3Request& request, const Attempt& attempt,
                 char* errbuf) const;
  void* Acquire();
  void Release(void* handle);

  const S3Config config_;
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL* handles, kept for their connections
};

// The text of the first element named `name` below the root of an S3 XML body, or "".
std::string XmlText(std::string_view xml, std::string_view name);
// The text of `field` in every element named `element` (ListObjectsV2 "Contents"/"Key").
std::vector<std::map<std::string, std::string>> XmlRecords(std::string_view xml,
                                                           std::string_view element);

// S3's URI encoding of one query value or key component (unreserved bytes kept).
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace backup

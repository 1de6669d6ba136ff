#include "storage/s3/s3_client.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <random>
#include <thread>

#include "common/sha256.h"

namespace backup {

namespace {

constexpr size_t kMaxBody = 8 << 20;  // an S3 answer that is not an object's bytes
constexpr int64_t kMaxBackoffMs = 10'000;

std::once_flag curl_once;

// What one try of a request collects from curl's callbacks.
struct TryState {
  CURL* curl = nullptr;
  const S3Request* request = nullptr;
  S3Response response;
  int64_t delivered = 0;  // bytes handed to the sink by this try
  bool sink_stopped = false;
  bool too_big = false;
  bool ranged = false;  // a Range was asked for: a 200 (the whole object) is wrong
  bool unranged = false;
};

long StatusOf(CURL* curl) {
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<TryState*>(user);
  const size_t n = size * count;
  const long status = StatusOf(t->curl);
  if (t->request->sink && status >= 200 && status < 300) {
    if (t->ranged && status != 206) {
      t->unranged = true;
      return 0;
    }
    if (!t->request->sink(std::string_view(data, n))) {
      t->sink_stopped = true;
      return 0;
    }
    t->delivered += static_cast<int64_t>(n);
    return n;
  }
  if (t->response.body.size() + n > kMaxBody) {
    t->too_big = true;
    return 0;
  }
  t->response.body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<TryState*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a 100 Continue's headers, or a retry's
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->response.headers[name] = std::string(value);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<TryState*>(user);
  return t->request->cancel != nullptr && t->request->cancel->load() ? 1 : 0;
}

// Whether a failed answer is worth another try.
bool TransientStatus(long status, const std::string& code) {
  if (status == 501 || code == "NotImplemented") return false;
  return status >= 500 || status == 429 || code == "SlowDown" || code == "RequestTimeout" ||
         code == "InternalError";
}

// The error a non-2xx answer stands for.
Error ErrorFor(const S3Client& client, const S3Request& request, const S3Response& response) {
  const std::string code = XmlText(response.body, "Code");
  std::string message = XmlText(response.body, "Message");
  const std::string where = request.method + " " + client.Locate(request.key);
  const std::string said = "S3 answered " + std::to_string(response.status) +
                           (code.empty() ? "" : " " + code) +
                           (message.empty() ? "" : " (" + message + ")");
  const long s = response.status;
  if (TransientStatus(s, code)) return Error::Unavailable(where + ": " + said);
  if (s == 401 || s == 403) {
    return Error::PermissionDenied(where + ": " + said +
                                   "; check the store's credentials and the bucket policy");
  }
  if (code == "NoSuchBucket") {
    return Error::FailedPrecondition(where + ": bucket \"" + client.config().bucket +
                                     "\" does not exist (" + said + ")");
  }
  if (s == 404) return Error::NotFound(where + ": " + said);
  if (s == 501 || code == "NotImplemented") return Error::Unimplemented(where + ": " + said);
  if (s == 301 || s == 307 || code == "PermanentRedirect" ||
      code == "AuthorizationHeaderMalformed") {
    return Error::FailedPrecondition(where + ": " + said +
                                     "; check the store's region and endpoint");
  }
  if (s == 416) return Error::DataLoss(where + ": " + said);
  return Error::FailedPrecondition(where + ": " + said);
}

void Backoff(const S3Config& config, int attempt, const std::atomic<bool>* cancel) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t delay = std::min(config.retry_base_ms << std::clamp(attempt - 1, 0, 16), kMaxBackoffMs);
  delay = delay / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(delay / 2 + 1));
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay);
  while (std::chrono::steady_clock::now() < until) {
    if (cancel != nullptr && cancel->load()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool IsXmlElement(const xmlNode* node, std::string_view name) {
  return node->type == XML_ELEMENT_NODE &&
         std::string_view(reinterpret_cast<const char*>(node->name)) == name;
}

std::string TextOf(xmlNode* node) {
  xmlChar* text = xmlNodeGetContent(node);
  std::string out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
  xmlFree(text);
  return out;
}

// Parses an S3 answer; never loads anything from the network nor expands entities.
std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> ParseXml(std::string_view xml) {
  xmlDoc* doc = xml.empty()
                    ? nullptr
                    : xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "s3.xml", nullptr,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  return {doc, [](xmlDoc* d) {
            if (d != nullptr) xmlFreeDoc(d);
          }};
}

xmlNode* FindElement(xmlNode* node, std::string_view name) {
  for (; node != nullptr; node = node->next) {
    if (IsXmlElement(node, name)) return node;
    if (xmlNode* found = FindElement(node->children, name)) return found;
  }
  return nullptr;
}

}  // namespace

std::string XmlText(std::string_view xml, std::string_view name) {
  auto doc = ParseXml(xml);
  if (!doc) return "";
  xmlNode* found = FindElement(xmlDocGetRootElement(doc.get()), name);
  return found != nullptr ? TextOf(found) : "";
}

std::vector<std::map<std::string, std::string>> XmlRecords(std::string_view xml,
                                                           std::string_view element) {
  std::vector<std::map<std::string, std::string>> out;
  auto doc = ParseXml(xml);
  if (!doc) return out;
  xmlNode* root = xmlDocGetRootElement(doc.get());
  for (xmlNode* n = root != nullptr ? root->children : nullptr; n != nullptr; n = n->next) {
    if (!IsXmlElement(n, element)) continue;
    std::map<std::string, std::string>& record = out.emplace_back();
    for (xmlNode* field = n->children; field != nullptr; field = field->next) {
      if (field->type == XML_ELEMENT_NODE) {
        record[reinterpret_cast<const char*>(field->name)] = TextOf(field);
      }
    }
  }
  return out;
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

S3Client::S3Client(S3Config config) : config_(std::move(config)) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

S3Client::~S3Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

std::string S3Client::Locate(std::string_view key) const {
  return "s3://" + config_.bucket + "/" + config_.prefix + std::string(key);
}

std::string S3Client::Url(const S3Request& request) const {
  std::string path = request.key.empty() ? "" : UriEncode(config_.prefix + request.key, true);
  std::string url;
  if (!config_.endpoint.empty()) {
    url = config_.endpoint + "/" + config_.bucket + "/" + path;
  } else {
    url = "https://" + config_.bucket + ".s3." + config_.region + ".amazonaws.com/" + path;
  }
  // S3's canonical query: sorted by name, each name and value %-encoded. curl signs the
  // query exactly as it is sent, so it is sent in that form.
  auto query = request.query;
  std::sort(query.begin(), query.end());
  for (size_t i = 0; i < query.size(); ++i) {
    url += (i == 0 ? "?" : "&") + UriEncode(query[i].first, false) + "=" +
           UriEncode(query[i].second, false);
  }
  return url;
}

void* S3Client::Acquire() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return curl_easy_init();
  void* h = idle_.back();
  idle_.pop_back();
  return h;
}

void S3Client::Release(void* handle) {
  curl_easy_reset(static_cast<CURL*>(handle));  // keeps the connection and DNS caches
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

struct S3Client::Attempt {
  std::string url;
  std::string userpwd;
  std::string sigv4;
  int64_t delivered = 0;  // bytes the last try handed to the sink
};

curl_slist* S3Client::Headers(const S3Request& request, int64_t resume_from) const {
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    std::string line = name;
    line += ": ";
    line += value;
    headers = curl_slist_append(headers, line.c_str());
  }
  std::string payload = "x-amz-content-sha256: ";
  payload += Sha256Hex(request.body);
  headers = curl_slist_append(headers, payload.c_str());
  if (!config_.credentials.session_token.empty()) {
    std::string token = "x-amz-security-token: ";
    token += config_.credentials.session_token;
    headers = curl_slist_append(headers, token.c_str());
  }
  if (request.range_begin >= 0 || resume_from > 0) {
    const int64_t begin = std::max<int64_t>(request.range_begin, 0) + resume_from;
    std::string range = "Range: bytes=" + std::to_string(begin) + "-";
    if (request.range_end >= 0) range += std::to_string(request.range_end);
    headers = curl_slist_append(headers, range.c_str());
  }
  return headers;
}

void S3Client::Configure(void* handle, void* state, const S3Request& request,
                         const Attempt& attempt, char* errbuf) const {
  auto* curl = static_cast<CURL*>(handle);
  curl_easy_setopt(curl, CURLOPT_URL, attempt.url.c_str());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, attempt.sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERPWD, attempt.userpwd.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout_ms));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stall_seconds));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, state);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
}

Result<S3Response> S3Client::SendOnce(const S3Request& request, int64_t resume_from,
                                      Attempt& attempt) {
  CURL* curl = static_cast<CURL*>(Acquire());
  if (curl == nullptr) return Fail(Error::ResourceExhausted("curl_easy_init failed"));
  TryState state;
  state.curl = curl;
  state.request = &request;
  state.ranged = request.range_begin >= 0 || resume_from > 0;
  curl_slist* headers = Headers(request, resume_from);
  char errbuf[CURL_ERROR_SIZE] = {0};
  Configure(curl, &state, request, attempt, errbuf);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(curl);
  state.response.status = StatusOf(curl);
  curl_slist_free_all(headers);
  Release(curl);
  const std::string where = request.method + " " + Locate(request.key);
  if (state.sink_stopped || rc == CURLE_ABORTED_BY_CALLBACK) {
    return Fail(Error::Cancelled(where + ": stopped"));
  }
  if (state.unranged) {
    return Fail(Error::Internal(where + ": the server ignored the byte range asked for"));
  }
  if (state.too_big) return Fail(Error::Internal(where + ": the answer is larger than 8 MiB"));
  if (rc != CURLE_OK) {
    // Resumable: the sink keeps what it got; the next try asks for the rest.
    attempt.delivered = state.delivered;
    return Fail(Error::Unavailable(where + ": " + curl_easy_strerror(rc) +
                                   (errbuf[0] != 0 ? std::string(" (") + errbuf + ")" : "")));
  }
  attempt.delivered = state.delivered;
  return std::move(state.response);
}

Result<S3Response> S3Client::Send(const S3Request& request) {
  Attempt attempt{Url(request),
                  config_.credentials.access_key + ":" + config_.credentials.secret_key,
                  "aws:amz:" + config_.region + ":s3", 0};
  int64_t delivered = 0;
  for (int n = 1;; ++n) {
    auto response = SendOnce(request, delivered, attempt);
    delivered += attempt.delivered;
    attempt.delivered = 0;
    Error error = Error::Internal("");
    if (response && response->status >= 200 && response->status < 300) return response;
    if (response) {
      error = ErrorFor(*this, request, *response);
    } else {
      error = response.error();
    }
    if (error.code() != Code::kUnavailable || n >= config_.max_tries) {
      if (error.code() == Code::kUnavailable) {
        return Fail(error.Context("gave up after " + std::to_string(n) + " tries"));
      }
      return Fail(error);
    }
    Backoff(config_, n, request.cancel);
    if (request.cancel != nullptr && request.cancel->load()) {
      return Fail(Error::Cancelled(request.method + " " + Locate(request.key) + ": stopped"));
    }
  }
}

}  // namespace backup

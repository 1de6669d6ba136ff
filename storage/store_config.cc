#include "storage/store_config.h"

#include <cstdlib>
#include <fstream>

#include "storage/local/local_store.h"
#include "storage/s3/s3_store.h"

namespace backup {

namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() + 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool ValidBucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

Result<int64_t> PositiveNumber(const std::string& name, const std::string& value, int64_t max) {
  try {
    size_t used = 0;
    const int64_t n = std::stoll(value, &used);
    if (used == value.size() && n > 0 && n <= max) return n;
  } catch (const std::exception&) {
  }
  return Fail(Error::InvalidArgument(name + " must be a number from 1 to " + std::to_string(max)));
}

}  // namespace

Result<StoreFlag> ParseStoreFlag(const std::string& flag) {
  const auto eq = flag.find('=');
  const std::string name = flag.substr(0, eq);
  if (eq == std::string::npos || name.empty() || name.size() > 32 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return Fail(Error::InvalidArgument("--store takes NAME=URL with NAME of a-z, 0-9, _ and -"));
  }
  return StoreFlag{name, flag.substr(eq + 1)};
}

Result<S3Config> ParseS3Url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Fail(Error::InvalidArgument("store URL " + url.substr(0, url.find('?')) + ": " + why));
  };
  if (!url.starts_with("s3://")) return bad("not an s3:// URL");
  const std::string rest = url.substr(5);
  const auto q = rest.find('?');
  const std::string location = rest.substr(0, q);
  const auto slash = location.find('/');
  S3Config config;
  config.bucket = location.substr(0, slash);
  if (!ValidBucket(config.bucket)) return bad("a bucket name has 3-63 of a-z, 0-9, '.', '-'");
  if (slash != std::string::npos && slash + 1 < location.size()) {
    std::string prefix = location.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (!prefix.empty()) {
      if (auto ok = CheckObjectKey(prefix); !ok) return bad(ok.error().message());
      config.prefix = prefix + "/";
    }
  }
  std::string query = q == std::string::npos ? "" : rest.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string pair = query.substr(0, amp);
    query = amp == std::string::npos ? "" : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string name = pair.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
    if (name == "endpoint") {
      if (!value.starts_with("http://") && !value.starts_with("https://")) {
        return bad("endpoint must be an http:// or https:// URL");
      }
      config.endpoint = value;
      while (!config.endpoint.empty() && config.endpoint.back() == '/') config.endpoint.pop_back();
    } else if (name == "region") {
      if (value.empty() ||
          value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
        return bad("region must be a region name such as us-east-1");
      }
      config.region = value;
    } else if (name == "part_size_mb") {
      auto mb = PositiveNumber(name, value, int64_t{5} * 1024);
      if (!mb) return bad(mb.error().message());
      if (*mb < 5) return bad("part_size_mb must be at least 5 (S3's smallest part)");
      config.part_size = *mb << 20;
    } else if (name == "parts_in_flight") {
      auto n = PositiveNumber(name, value, 64);
      if (!n) return bad(n.error().message());
      config.parts_in_flight = static_cast<int>(*n);
    } else if (name == "profile") {
      // read by OpenStore
    } else {
      return bad("unknown setting \"" + name +
                 "\" (endpoint, region, part_size_mb, parts_in_flight, profile)");
    }
  }
  return config;
}

Result<S3Credentials> LoadCredentials(const std::optional<std::filesystem::path>& file,
                                      const std::string& profile) {
  S3Credentials c;
  if (file) {
    std::ifstream in(*file);
    if (!in) return Fail(Error::NotFound("cannot read the credentials file " + file->string()));
    std::string line, section;
    while (std::getline(in, line)) {
      line = Trim(line);
      if (line.empty() || line[0] == '#' || line[0] == ';') continue;
      if (line.front() == '[' && line.back() == ']') {
        section = Trim(line.substr(1, line.size() - 2));
        if (section.starts_with("profile ")) section = Trim(section.substr(8));
        continue;
      }
      if (section != profile) continue;
      const auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string name = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
      if (name == "aws_access_key_id") c.access_key = value;
      if (name == "aws_secret_access_key") c.secret_key = value;
      if (name == "aws_session_token") c.session_token = value;
    }
    if (c.access_key.empty() || c.secret_key.empty()) {
      return Fail(Error::InvalidArgument("the credentials file " + file->string() +
                                         " has no aws_access_key_id and aws_secret_access_key "
                                         "in profile [" +
                                         profile + "]"));
    }
    return c;
  }
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  c.access_key = env("AWS_ACCESS_KEY_ID");
  c.secret_key = env("AWS_SECRET_ACCESS_KEY");
  c.session_token = env("AWS_SESSION_TOKEN");
  if (c.access_key.empty() || c.secret_key.empty()) {
    return Fail(Error::InvalidArgument(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a "
        "credentials file"));
  }
  return c;
}

Result<std::unique_ptr<BackupStore>> OpenStore(
    const std::string& url, const std::optional<std::filesystem::path>& credentials_file) {
  if (url.starts_with("s3://")) {
    auto config = ParseS3Url(url);
    if (!config) return Fail(config.error());
    std::string profile = "default";
    if (auto at = url.find("profile="); at != std::string::npos) {
      profile = url.substr(at + 8, url.find('&', at) - at - 8);
    }
    auto credentials = LoadCredentials(credentials_file, profile);
    if (!credentials) return Fail(credentials.error());
    config->credentials = std::move(*credentials);
    return std::unique_ptr<BackupStore>(new S3Store(std::move(*config)));
  }
  std::string path = url.starts_with("file://") ? url.substr(7) : url;
  if (path.empty() || path[0] != '/') {
    return Fail(
        Error::InvalidArgument("store URL \"" + url + "\": an absolute folder or an s3:// URL"));
  }
  auto local = LocalStore::Open(path);
  if (!local) return Fail(local.error());
  return std::unique_ptr<BackupStore>(std::move(*local));
}

}  // namespace backup

#include "tests/test_util.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "common/fs.h"
#include "common/ids.h"

namespace backup::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  path_ = fs::temp_directory_path() / ("backup-test-" + RandomHex(6));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  (void)RemoveAll(path_);  // through descriptors: the tests make paths longer than PATH_MAX
}

void FillRecords(const fs::path& db_path, int count, int payload_bytes, int first_id) {
  auto db = sql::Database::Open(db_path.string(), {});
  ASSERT_TRUE(db) << db.error().message();
  ASSERT_TRUE(db->Exec("BEGIN"));
  auto insert =
      db->Prepare("INSERT INTO records (id, proto_data, labels) VALUES (?1, randomblob(?2), ?3)");
  ASSERT_TRUE(insert) << insert.error().message();
  for (int i = 0; i < count; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "r%06d", first_id + i);
    ASSERT_TRUE(insert
                    ->Bind({std::string_view(id), static_cast<int64_t>(payload_bytes),
                            std::string_view("{\"n\":\"" + std::to_string(i) + "\"}")})
                    .Run());
    insert->Reset();
  }
  ASSERT_TRUE(db->Exec("COMMIT"));
}

void WriteFiles(const fs::path& dir, int count, int bytes) {
  std::mt19937 rng(42);
  for (int i = 0; i < count; ++i) {
    fs::path sub = dir / ("d" + std::to_string(i % 7)) / ("e" + std::to_string(i % 3));
    fs::create_directories(sub);
    std::string data(bytes, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::ofstream(sub / ("file-" + std::to_string(i) + ".bin"), std::ios::binary) << data;
  }
}

std::string CanonicalDump(const fs::path& db_path) {
  auto db = sql::Database::Open(db_path.string(), {.read_only = true});
  if (!db) return "open failed: " + db.error().message();
  std::ostringstream out;
  auto tables = db->Prepare(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY "
      "name");
  std::vector<std::string> names;
  while (tables && tables->Step().value_or(false)) names.push_back(tables->Text(0));
  for (const auto& t : names) {
    out << "table " << t << "\n";
    auto rows = db->Prepare("SELECT * FROM \"" + t + "\" ORDER BY 1");
    if (!rows) return "prepare failed";
    int cols = rows->ColumnCount();
    while (rows->Step().value_or(false)) {
      for (int c = 0; c < cols; ++c) out << rows->Blob(c).size() << ":" << rows->Blob(c) << "|";
      out << "\n";
    }
  }
  return out.str();
}

std::string IntegrityCheck(const fs::path& db_path) {
  auto db = sql::Database::Open(db_path.string(), {.read_only = true});
  if (!db) return "open failed: " + db.error().message();
  auto stmt = db->Prepare("PRAGMA integrity_check");
  if (!stmt || !stmt->Step().value_or(false)) return "integrity_check failed to run";
  return stmt->Text(0);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> FileTree(const fs::path& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file()) out[fs::relative(it->path(), dir).string()] = ReadFile(it->path());
  }
  return out;
}

fs::path UnpackArchive(const fs::path& archive, const fs::path& into) {
  fs::create_directories(into);
  const bool zstd = archive.extension() == ".zst";
  const std::string command = std::string("tar ") + (zstd ? "--zstd " : "") + "-xf '" +
                              archive.string() + "' -C '" + into.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return into;
}

std::pair<std::string, int> Shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  return {out, ::pclose(p)};
}

}  // namespace backup::testing

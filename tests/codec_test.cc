// The stored form of a backup: zstd and sealing (codec.h), the pax archive (tar_stream.h),
// and reading an object back as a stream (object_stream.h).
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "storage/codec.h"
#include "storage/local/local_store.h"
#include "storage/object_stream.h"
#include "storage/store_set.h"
#include "storage/tar_stream.h"
#include "tests/test_util.h"

namespace backup::testing {
namespace {
namespace fs = std::filesystem;

// Half text-like records, half random bytes: both what compresses and what does not.
std::string Sample(size_t n) {
  std::string s;
  uint32_t x = 12345;
  while (s.size() < n) {
    s += "{\"id\":" + std::to_string(s.size()) + ",\"name\":\"user-" + std::to_string(x % 977) +
         "\",\"active\":true}\n";
    for (int i = 0; i < 40; ++i) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      s += static_cast<char>(x);
    }
  }
  s.resize(n);
  return s;
}

std::string Encode(const std::string& plain, Compression c, const EncryptionKey* key) {
  std::string stored;
  auto enc = Encoder::Create(c, key, [&](std::string_view b) -> Status {
    stored.append(b);
    return {};
  });
  EXPECT_TRUE(enc);
  for (size_t at = 0; at < plain.size(); at += 100'003) {
    EXPECT_TRUE((*enc)->Write(std::string_view(plain).substr(at, 100'003)));
  }
  EXPECT_TRUE((*enc)->Finish());
  return stored;
}

Result<std::string> Decode(const std::string& stored, const std::string& compression,
                           const std::string& key_id, const KeyRing& keys,
                           int64_t max = int64_t{1} << 40, size_t piece = 7'777) {
  std::string plain;
  auto dec = Decoder::Create(compression, key_id, keys, max, [&](std::string_view b) -> Status {
    plain.append(b);
    return {};
  });
  if (!dec) return Fail(dec.error());
  for (size_t at = 0; at < stored.size(); at += piece) {
    BACKUP_TRY((*dec)->Feed(std::string_view(stored).substr(at, piece)), "feed");
  }
  BACKUP_TRY((*dec)->Finish(), "finish");
  return plain;
}

const EncryptionKey kKey = KeyFromBytes("0123456789abcdef0123456789abcdef");
const EncryptionKey kOtherKey = KeyFromBytes("fedcba9876543210fedcba9876543210");

void RoundTripEveryCompression(const std::string& plain);

TEST(CodecTest, EveryCompressionWithAndWithoutAKeyRoundTrips) {
  // An odd size, and one that ends exactly on zstd's output block (128 KiB).
  for (const size_t size : {size_t{(3 << 20) + 7}, size_t{4 << 20}}) {
    const std::string plain = Sample(size);
    RoundTripEveryCompression(plain);
  }
}

void RoundTripEveryCompression(const std::string& plain) {
  const KeyRing ring(kKey, {});
  // Level 0 is no compression; zstd on the caller's thread (threads 0) and on its own two.
  for (const Compression c : {Compression{0}, Compression{1, 0}, Compression{1, 2},
                              Compression{9, 0}, Compression{9, 2}}) {
    const int level = c.zstd_level;
    for (const EncryptionKey* key : {static_cast<const EncryptionKey*>(nullptr), &kKey}) {
      const std::string stored = Encode(plain, c, key);
      auto back = Decode(stored, c.Name(), key ? key->id : "", ring);
      ASSERT_TRUE(back) << level << ": " << back.error().message();
      EXPECT_TRUE(*back == plain) << "level " << level << (key ? " sealed" : "");
      auto whole = Decode(stored, c.Name(), key ? key->id : "", ring, int64_t{1} << 40,
                          stored.size());  // fed at once
      ASSERT_TRUE(whole) << level << ": " << whole.error().message();
      EXPECT_TRUE(*whole == plain);
      if (level > 0) {
        EXPECT_LT(stored.size(), plain.size()) << level;
      }
      if (key != nullptr) {
        EXPECT_EQ(stored.find("\"name\":\"user-"), std::string::npos) << "sealed bytes are opaque";
      }
    }
  }
}

TEST(CodecTest, AnyTamperedByteOfASealedStreamIsDataLoss) {
  const std::string plain = Sample((2 << 20) + 99);
  const KeyRing ring(kKey, {});
  const std::string stored = Encode(plain, Compression{1}, &kKey);
  const size_t n = stored.size();
  for (size_t at :
       {size_t{0}, size_t{9}, size_t{30}, size_t{49}, size_t{60}, n / 2, n - 20, n - 1}) {
    std::string bad = stored;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    auto back = Decode(bad, "zstd", kKey.id, ring);
    ASSERT_FALSE(back) << "byte " << at;
    EXPECT_EQ(back.error().code(), Code::kDataLoss) << at << ": " << back.error().message();
  }
}

TEST(CodecTest, TruncatedOrExtendedStreamsAreDataLoss) {
  const std::string plain = Sample(3 << 20);
  const KeyRing ring(kKey, {});
  for (const EncryptionKey* key : {static_cast<const EncryptionKey*>(nullptr), &kKey}) {
    const std::string stored = Encode(plain, Compression{3}, key);
    const std::string id = key ? key->id : "";
    for (size_t keep : {size_t{10}, stored.size() / 3, stored.size() - 1}) {
      auto back = Decode(stored.substr(0, keep), "zstd", id, ring);
      ASSERT_FALSE(back) << keep;
      EXPECT_EQ(back.error().code(), Code::kDataLoss) << back.error().message();
    }
    auto longer = Decode(stored + "x", "zstd", id, ring);
    ASSERT_FALSE(longer);
    EXPECT_EQ(longer.error().code(), Code::kDataLoss) << longer.error().message();
  }
}

TEST(CodecTest, AMissingKeyIsNamedAndOldKeysStillOpenOldBackups) {
  const std::string plain = Sample(100'000);
  const std::string stored = Encode(plain, Compression{1}, &kOtherKey);
  auto missing = Decode(stored, "zstd", kOtherKey.id, KeyRing(kKey, {}));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(missing.error().message().find(kOtherKey.id), std::string::npos);
  auto rotated = Decode(stored, "zstd", kOtherKey.id, KeyRing(kKey, {kOtherKey}));
  ASSERT_TRUE(rotated) << rotated.error().message();
  EXPECT_TRUE(*rotated == plain);
  // The catalogue's key id must match the object's.
  auto mixed = Decode(stored, "zstd", kKey.id, KeyRing(kKey, {kOtherKey}));
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code(), Code::kDataLoss);
}

TEST(CodecTest, AStreamThatDecodesToMoreThanTheBackupHasIsRefused) {
  const std::string plain(10 << 20, 'z');  // compresses to almost nothing
  const std::string stored = Encode(plain, Compression{3}, nullptr);
  auto bomb = Decode(stored, "zstd", "", KeyRing(), 1 << 20);
  ASSERT_FALSE(bomb);
  EXPECT_EQ(bomb.error().code(), Code::kDataLoss);
}

TEST(CodecTest, KeyFilesAreCheckedAndCompressionSpecsParse) {
  TempDir dir;
  const fs::path hex = dir.path() / "hex.key", raw = dir.path() / "raw.key";
  std::ofstream(hex) << "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
  std::ofstream(raw) << "0123456789abcdef0123456789abcdef";
  fs::permissions(hex, fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(raw, fs::perms::owner_read | fs::perms::owner_write);
  auto from_hex = LoadKeyFile(hex);
  ASSERT_TRUE(from_hex) << from_hex.error().message();
  EXPECT_EQ(from_hex->bytes[31], 0x1f);
  EXPECT_EQ(LoadKeyFile(raw)->id, kKey.id);
  EXPECT_EQ(kKey.id.size(), 16u);
  EXPECT_NE(kKey.id, kOtherKey.id);
  fs::permissions(raw, fs::perms::group_read, fs::perm_options::add);
  EXPECT_EQ(LoadKeyFile(raw).error().code(), Code::kPermissionDenied);
  std::ofstream(dir.path() / "short.key") << "abc";
  fs::permissions(dir.path() / "short.key", fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(LoadKeyFile(dir.path() / "short.key").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseCompression("zstd:7")->zstd_level, 7);
  EXPECT_EQ(ParseCompression("zstd:7")->threads, 2);
  EXPECT_EQ(ParseCompression("zstd:1:0")->threads, 0);
  EXPECT_EQ(ParseCompression("zstd:19:16")->zstd_level, 19);
  EXPECT_EQ(ParseCompression("none")->zstd_level, 0);
  for (const char* bad : {"zstd:0", "zstd:20", "gzip", "zstd:x", "", "zstd:3:", "zstd:3:17",
                          "zstd:3:-1", "zstd:3:2:1", "zstd: 3", "zstd:+3"}) {
    EXPECT_FALSE(ParseCompression(bad)) << bad;
  }
}

// Without --compression, archives are zstd:3 and chunked backups zstd:1; a level given is
// kept for either.
TEST(CodecTest, TheDefaultCompressionDependsOnTheFormat) {
  TempDir dir;
  auto level = [&](const std::string& format, const std::string& compression) {
    StoreSetOptions options;
    options.format = format;
    options.compression = compression;
    auto set = StoreSet::Open(options, dir.path() / "store");
    EXPECT_TRUE(set) << set.error().message();
    return set ? (*set)->compression().zstd_level : -1;
  };
  EXPECT_EQ(level("archive", ""), 3);
  EXPECT_EQ(level("chunked", ""), 1);
  EXPECT_EQ(level("chunked", "zstd:3"), 3);
  EXPECT_EQ(level("archive", "none"), 0);
}

// A tar stream written through the codec into a store, and read back as a stream.
TEST(TarStreamTest, AnArchiveRoundTripsThroughAStoreAsAStream) {
  TempDir dir;
  auto store = LocalStore::Open(dir.path());
  ASSERT_TRUE(store);
  const std::string db = Sample(5 << 20), small = "hello";
  {
    auto w = (*store)->Put("obj", std::nullopt);
    ASSERT_TRUE(w);
    auto enc =
        Encoder::Create(Compression{1}, &kKey, [&](std::string_view b) { return (*w)->Write(b); });
    auto tar = TarWriter::Create([&](std::string_view b) { return (*enc)->Write(b); });
    ASSERT_TRUE(tar);
    ASSERT_TRUE((*tar)->Begin("database.sqlite", std::ssize(db), 0640, 1));
    ASSERT_TRUE((*tar)->Data(db));
    ASSERT_TRUE((*tar)->Begin("files/a/b.txt", std::ssize(small), 0600, 1));
    ASSERT_TRUE((*tar)->Data(small));
    ASSERT_TRUE((*tar)->Finish());
    ASSERT_TRUE((*enc)->Finish());
    ASSERT_TRUE((*w)->Commit());
  }
  const KeyRing ring(kKey, {});
  auto stream = ObjectStream::Start({store->get(), "obj", "zstd", kKey.id, 8 << 20}, ring);
  ASSERT_TRUE(stream);
  auto reader = TarReader::Open((*stream)->fd());
  ASSERT_TRUE(reader);
  std::vector<std::pair<std::string, std::string>> got;
  for (;;) {
    auto entry = (*reader)->Next();
    ASSERT_TRUE(entry) << entry.error().message();
    if (!*entry) break;
    std::string bytes;
    ASSERT_TRUE((*reader)->Read([&](std::string_view b) -> Status {
      bytes.append(b);
      return {};
    }));
    EXPECT_EQ(std::ssize(bytes), (*entry)->size);
    got.emplace_back((*entry)->name, std::move(bytes));
  }
  Status whole = (*stream)->Complete();
  EXPECT_TRUE(whole) << whole.error().message();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "database.sqlite");
  EXPECT_TRUE(got[0].second == db);
  EXPECT_EQ(got[1], (std::pair<std::string, std::string>{"files/a/b.txt", "hello"}));
}

TEST(TarStreamTest, ATamperedObjectStopsTheStreamWithDataLoss) {
  TempDir dir;
  auto store = LocalStore::Open(dir.path());
  const std::string plain = Sample(4 << 20);
  const std::string stored = Encode(plain, Compression{1}, &kKey);
  std::string bad = stored;
  bad[stored.size() / 2] ^= 0x10;
  std::ofstream(dir.path() / "bad", std::ios::binary) << bad;
  auto stream =
      ObjectStream::Start({store->get(), "bad", "zstd", kKey.id, 8 << 20}, KeyRing(kKey, {}));
  ASSERT_TRUE(stream);
  std::string received;
  char buf[65536];
  for (ssize_t n; (n = ::read((*stream)->fd(), buf, sizeof(buf))) > 0;) received.append(buf, n);
  Status done = (*stream)->Finish();
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().code(), Code::kDataLoss) << done.error().message();
  EXPECT_LT(received.size(), plain.size());
  EXPECT_TRUE(plain.starts_with(received)) << "only authenticated bytes are handed on";
}

TEST(TarStreamTest, EntriesThatAreNotRegularFilesAreRefused) {
  TempDir dir;
  fs::create_directories(dir.path() / "src");
  fs::create_symlink("/etc/passwd", dir.path() / "src" / "link");
  ASSERT_EQ(std::system(("tar -C " + (dir.path() / "src").string() + " -cf " +
                         (dir.path() / "link.tar").string() + " link")
                            .c_str()),
            0);
  auto store = LocalStore::Open(dir.path());
  auto stream = ObjectStream::Start({store->get(), "link.tar", "none", "", 1 << 20}, KeyRing());
  ASSERT_TRUE(stream);
  auto reader = TarReader::Open((*stream)->fd());
  ASSERT_TRUE(reader);
  auto entry = (*reader)->Next();
  ASSERT_FALSE(entry);
  EXPECT_EQ(entry.error().code(), Code::kDataLoss);
  EXPECT_NE(entry.error().message().find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace backup::testing

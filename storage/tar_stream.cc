#include "storage/tar_stream.h"

#include <archive.h>
#include <archive_entry.h>

namespace backup {

namespace {

Error ArchiveError(struct archive* a, const std::string& what) {
  const char* s = archive_error_string(a);
  return Error::DataLoss(what + ": " + (s != nullptr ? s : "libarchive error"));
}

}  // namespace

long TarWriter::OnWrite(struct archive*, void* self, const void* data, size_t n) {
  auto* w = static_cast<TarWriter*>(self);
  if (auto ok = w->out_(std::string_view(static_cast<const char*>(data), n)); !ok) {
    w->out_error_ = ok.error();
    return -1;
  }
  return static_cast<long>(n);
}

Error TarWriter::Failure(const std::string& what) const {
  if (out_error_) return *out_error_;
  const char* s = archive_error_string(a_);
  return Error::Internal(what + ": " + (s != nullptr ? s : "libarchive error"));
}

Result<std::unique_ptr<TarWriter>> TarWriter::Create(ByteOut out) {
  std::unique_ptr<TarWriter> w(new TarWriter(std::move(out)));
  w->a_ = archive_write_new();
  if (w->a_ == nullptr) return Fail(Error::ResourceExhausted("archive_write_new failed"));
  archive_write_set_format_pax_restricted(w->a_);
  // Names are bytes: stored as given, never translated through the locale (which fails on
  // any name that is not ASCII in the "C" locale). A name that is not plain ASCII gets a pax
  // header with "hdrcharset=BINARY", which libarchive's reader honours by taking the name's
  // bytes as they are; GNU tar lists such names the same (and says it ignores the keyword).
  if (archive_write_set_format_option(w->a_, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK) {
    return Fail(w->Failure("set the archive's header charset"));
  }
  archive_write_add_filter_none(w->a_);
  archive_write_set_bytes_per_block(w->a_, 64 * 1024);
  archive_write_set_bytes_in_last_block(w->a_, 1);
  if (archive_write_open(w->a_, w.get(), nullptr, &TarWriter::OnWrite, nullptr) != ARCHIVE_OK) {
    return Fail(w->Failure("start the archive"));
  }
  return w;
}

TarWriter::~TarWriter() {
  if (a_ != nullptr) archive_write_free(a_);
}

Status TarWriter::Begin(const std::string& name, int64_t size, int mode, int64_t mtime) {
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                 archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_size(entry.get(), size);
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), static_cast<mode_t>(mode & 07777));
  archive_entry_set_mtime(entry.get(), mtime, 0);
  if (archive_write_header(a_, entry.get()) != ARCHIVE_OK) {
    return Fail(Failure("archive entry " + name));
  }
  return {};
}

Status TarWriter::Data(std::string_view bytes) {
  while (!bytes.empty()) {
    const la_ssize_t n = archive_write_data(a_, bytes.data(), bytes.size());
    if (n <= 0) return Fail(Failure("archive data"));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status TarWriter::Finish() {
  if (archive_write_close(a_) != ARCHIVE_OK) return Fail(Failure("end the archive"));
  return {};
}

Result<std::unique_ptr<TarReader>> TarReader::Open(int fd) {
  std::unique_ptr<TarReader> r(new TarReader());
  r->a_ = archive_read_new();
  if (r->a_ == nullptr) return Fail(Error::ResourceExhausted("archive_read_new failed"));
  archive_read_support_format_tar(r->a_);
  if (archive_read_open_fd(r->a_, fd, size_t{256} * 1024) != ARCHIVE_OK) {
    return Fail(ArchiveError(r->a_, "open the archive"));
  }
  return r;
}

TarReader::~TarReader() {
  if (a_ != nullptr) archive_read_free(a_);
}

Result<std::optional<TarEntry>> TarReader::Next() {
  archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(a_, &entry);
  if (rc == ARCHIVE_EOF) return std::optional<TarEntry>{};
  if (rc != ARCHIVE_OK) return Fail(ArchiveError(a_, "read the archive"));
  const char* name = archive_entry_pathname(entry);
  TarEntry out{name != nullptr ? name : "", archive_entry_size(entry),
               static_cast<int>(archive_entry_perm(entry))};
  if (archive_entry_filetype(entry) != AE_IFREG || !archive_entry_size_is_set(entry)) {
    return Fail(
        Error::DataLoss("the archive holds \"" + out.name + "\", which is not a regular file"));
  }
  return std::optional<TarEntry>(std::move(out));
}

Status TarReader::Read(const ByteOut& out) {
  char buf[64 * 1024];
  for (;;) {
    const la_ssize_t n = archive_read_data(a_, buf, sizeof(buf));
    if (n == 0) return {};
    if (n < 0) return Fail(ArchiveError(a_, "read the archive"));
    BACKUP_TRY(out(std::string_view(buf, static_cast<size_t>(n))), "read the archive");
  }
}

}  // namespace backup

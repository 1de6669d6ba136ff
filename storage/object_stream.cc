#include "storage/object_stream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace backup {

Result<std::unique_ptr<ObjectStream>> ObjectStream::Start(Source source, const KeyRing& keys) {
  std::unique_ptr<ObjectStream> s(new ObjectStream());
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Fail(Error::FromErrno(errno, "socketpair"));
  }
  s->read_fd_ = fds[0];
  s->write_fd_ = fds[1];
  const int fd = s->write_fd_;
  auto decoder = Decoder::Create(source.compression, source.key_id, keys, source.max_plain_bytes,
                                 [fd](std::string_view plain) -> Status {
                                   while (!plain.empty()) {
                                     ssize_t n =
                                         ::send(fd, plain.data(), plain.size(), MSG_NOSIGNAL);
                                     if (n < 0 && errno == EINTR) continue;
                                     if (n < 0) {
                                       return Fail(Error::Cancelled("the reader stopped"));
                                     }
                                     plain.remove_prefix(static_cast<size_t>(n));
                                   }
                                   return {};
                                 });
  if (!decoder) return Fail(decoder.error());
  s->producer_ =
      std::thread(&ObjectStream::Produce, s.get(), std::move(source), std::move(*decoder));
  return s;
}

void ObjectStream::Produce(Source source, std::unique_ptr<Decoder> decoder) {
  Status fed;
  Status got = source.store->Get(source.key, 0, -1, [&](std::string_view stored) {
    fed = decoder->Feed(stored);
    return fed.has_value();
  });
  if (!fed) {
    result_ = fed;
  } else if (!got) {
    result_ = got;
  } else {
    result_ = decoder->Finish();
  }
  ::shutdown(write_fd_, SHUT_WR);  // the reader sees the end of the stream
}

Status ObjectStream::Complete() {
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(read_fd_, buf, sizeof(buf));
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    break;
  }
  return Finish();
}

Status ObjectStream::Finish() {
  if (!finished_) {
    finished_ = true;
    ::shutdown(read_fd_, SHUT_RDWR);  // a producer still writing fails at once
    if (producer_.joinable()) producer_.join();
    ::close(read_fd_);
    ::close(write_fd_);
  }
  return result_;
}

ObjectStream::~ObjectStream() { (void)Finish(); }

}  // namespace backup

#include "entrenar/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace entrenar {
namespace {

Status OpenError(int err, const std::string& path) {
  if (err == ENOENT) return NotFound("no such file: " + path);
  if (err == EISDIR) return InvalidArgument(path + " is a directory");
  return DataLoss("cannot read " + path + ": " + std::strerror(err));
}

// What `st` is, for a refusal: "a FIFO", "a device", ...
const char* KindOf(const struct stat& st) {
  if (S_ISFIFO(st.st_mode)) return "a FIFO";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "a special file";
}

std::string Limit(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<int> OpenForReading(const std::string& path, const ReadLimits& limits) {
  struct stat st {};
  // A FIFO allowed is opened as a shell's `<(...)` is read: blocking, until its writer opens.
  // Every other open does not block: a FIFO's open would wait for a writer that never comes.
  const bool fifo = limits.pipes && stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
  const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | (fifo ? 0 : O_NONBLOCK);
  const int fd = open(path.c_str(), flags);
  if (fd < 0) return OpenError(errno, path);
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return OpenError(err, path);
  }
  const bool readable = S_ISREG(st.st_mode) || (limits.pipes && S_ISFIFO(st.st_mode));
  if (!readable) {
    close(fd);
    if (S_ISDIR(st.st_mode)) return InvalidArgument(path + " is a directory");
    return InvalidArgument(path + " is " + KindOf(st) +
                           ", not a regular file: only files are read");
  }
  if (S_ISREG(st.st_mode) && static_cast<std::uintmax_t>(st.st_size) > limits.max_bytes) {
    close(fd);
    return InvalidArgument(path + " is larger than the " + Limit(limits.max_bytes) + " allowed");
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

Result<std::string> ReadWholeFile(const std::string& path, const ReadLimits& limits) {
  ENTRENAR_ASSIGN_OR_RETURN(const int fd, OpenForReading(path, limits));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      return DataLoss("cannot read " + path + ": " + why);
    }
    if (n == 0) break;
    // A pipe, or a file that grows while it is read, is held to the limit too.
    if (static_cast<std::size_t>(n) > limits.max_bytes - out.size()) {
      close(fd);
      return InvalidArgument(path + " is larger than the " + Limit(limits.max_bytes) + " allowed");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

// A streambuf over a file descriptor that never fails its stream: the first write error is
// kept and what follows is dropped.
class AtomicFile::Buffer final : public std::streambuf {
 public:
  explicit Buffer(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof buf_); }
  ~Buffer() override {
    if (fd_ >= 0) close(fd_);
  }
  // Writes what is buffered, then closes the file; the first error, or 0.
  int Finish() {
    Drain();
    if (fd_ >= 0 && close(fd_) != 0 && error_ == 0) error_ = errno;
    fd_ = -1;
    return error_;
  }

 protected:
  int_type overflow(int_type c) override {
    Drain();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override {
    Drain();
    return 0;
  }

 private:
  void Drain() {
    const char* p = pbase();
    std::size_t left = static_cast<std::size_t>(pptr() - pbase());
    while (left > 0 && error_ == 0) {
      const ssize_t n = write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error_ = errno;
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    setp(buf_, buf_ + sizeof buf_);
  }

  int fd_;
  int error_ = 0;
  char buf_[1 << 16];
};

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(getpid())) {
  const int fd = open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = errno;
  buffer_ = std::make_unique<Buffer>(fd);
  stream_ = std::make_unique<std::ostream>(buffer_.get());
  if (fd < 0) open_error_ = err;
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    buffer_->Finish();
    unlink(tmp_.c_str());
  }
}

std::ostream& AtomicFile::stream() { return *stream_; }

Status AtomicFile::Commit() {
  committed_ = true;
  if (open_error_ != 0) {
    return DataLoss("cannot write " + path_ + ": " + std::strerror(open_error_));
  }
  stream_->flush();
  if (const int err = buffer_->Finish(); err != 0) {
    unlink(tmp_.c_str());
    const std::string why = "cannot write " + path_ + ": " + std::strerror(err);
    // Out of room (a full disk, a quota, a size limit): the one failure that freeing space fixes.
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
      return Status(StatusCode::kResourceExhausted, why);
    }
    return DataLoss(why);
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    unlink(tmp_.c_str());
    return DataLoss("cannot rename " + tmp_ + " to " + path_ + ": " + why);
  }
  return OkStatus();
}

Status WriteFileAtomic(const std::string& path, const std::string& contents) {
  AtomicFile file(path);
  file.stream().write(contents.data(), static_cast<std::streamsize>(contents.size()));
  return file.Commit();
}

Status DropPartialLastLine(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return OkStatus();
    return DataLoss("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return FailedPrecondition(path + " is not a regular file");
  }
  // Back from the end, a block at a time, to the last newline.
  const off_t end = st.st_size;
  char block[4096];
  off_t keep = end;
  while (keep > 0) {
    const off_t from = std::max<off_t>(0, keep - static_cast<off_t>(sizeof(block)));
    const ssize_t n = pread(fd, block, static_cast<std::size_t>(keep - from), from);
    if (n != keep - from) {
      keep = end;  // unreadable: left as it is
      break;
    }
    const void* nl = memrchr(block, '\n', static_cast<std::size_t>(n));
    if (nl) {
      keep = from + (static_cast<const char*>(nl) - block) + 1;
      break;
    }
    keep = from;
  }
  const bool cut = keep < end && ftruncate(fd, keep) != 0;
  const int err = errno;
  close(fd);
  if (cut) return DataLoss("cannot cut " + path + " back to its last line: " + std::strerror(err));
  return OkStatus();
}

}  // namespace entrenar

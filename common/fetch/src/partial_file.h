// A download's bytes appended to a file that outlives the process (what an interrupted transfer
// leaves for the next one to resume), and the lock that makes two downloads of one file take
// turns. Internal to entrenar_fetch.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "entrenar/base/kill_point.h"
#include "entrenar/base/status.h"

namespace entrenar::fetch {

// Appends what a GET returns to `path`, which already holds `have` bytes of it.
class PartialFile {
 public:
  PartialFile(std::string path, std::int64_t have) : path_(std::move(path)), have_(have) {}
  ~PartialFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  // Writes `chunk`; a 200 to a Range request (the server ignored it) starts the file over.
  bool Write(std::string_view chunk, long status) {
    if (fd_ < 0) {
      const bool restart = status == 200;
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (restart ? O_TRUNC : O_APPEND),
                   0644);
      if (fd_ < 0) return Fail();
      if (restart) have_ = 0;
    }
    while (!chunk.empty()) {
      const ssize_t n = ::write(fd_, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Fail();
      chunk.remove_prefix(static_cast<std::size_t>(n));
      have_ += n;
    }
    KillPoint("worker.download.partial");  // part of the file is down: the next run resumes it
    return true;
  }
  Status Close() {
    if (fd_ >= 0 && ::close(fd_) != 0 && error_ == 0) error_ = errno;
    fd_ = -1;
    if (error_ == 0) return OkStatus();
    const bool full = error_ == ENOSPC || error_ == EDQUOT || error_ == EFBIG;
    return Status(
        full ? StatusCode::kResourceExhausted : StatusCode::kDataLoss,
        "cannot write " + path_ + ": " + std::strerror(error_) +
            (full ? " (the part downloaded is kept; free space and run again to resume)" : ""));
  }
  std::int64_t have() const { return have_; }
  int error() const { return error_; }

 private:
  bool Fail() {
    error_ = errno ? errno : EIO;
    return false;
  }
  std::string path_;
  std::int64_t have_;
  int fd_ = -1;
  int error_ = 0;
};

// Holds an exclusive lock on `path` (created) while alive: two processes downloading one file
// take turns, and the second finds it done.
class FileLock {
 public:
  explicit FileLock(const std::string& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace entrenar::fetch

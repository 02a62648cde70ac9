#pragma once

#include <cstddef>
#include <limits>
#include <memory>
#include <ostream>
#include <string>

#include "entrenar/base/status.h"

namespace entrenar {

// What ReadWholeFile and OpenForReading accept.
struct ReadLimits {
  // Longer files are refused (kInvalidArgument) instead of read into memory.
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  // Also read a FIFO to its end (a shell's `<(...)`); otherwise only regular files are read, and
  // a FIFO, a device or a socket is refused at once rather than blocking or reading forever.
  bool pipes = false;
};

// Opens `path` for reading: a regular file (or, given `limits.pipes`, a FIFO), never blocking on
// the open. Returns the descriptor, which the caller closes; kNotFound for a missing file,
// kInvalidArgument for a directory, a device, a socket or a file over `limits.max_bytes`, and
// kDataLoss when it cannot be opened.
Result<int> OpenForReading(const std::string& path, const ReadLimits& limits = {});

// The whole contents of `path` (OpenForReading's rules).
Result<std::string> ReadWholeFile(const std::string& path, const ReadLimits& limits = {});

// Writes a file whole or not at all: to a temporary name beside `path` (PATH.tmp.PID), renamed
// over `path` by Commit, so readers see the old file or the new one, never half of one. A write
// error (a full disk) never reaches the writer, which may be a library that cannot recover from
// one (LibTorch's archives abort): it is remembered, the rest is discarded, and Commit reports
// it (naming `path` and the reason: kResourceExhausted for a full disk, a quota or a size limit,
// else kDataLoss) after removing the temporary. A writer destroyed
// without Commit removes its temporary too. Not thread-safe.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Where the contents go.
  std::ostream& stream();
  // Flushes, closes and renames the temporary over the path.
  Status Commit();

 private:
  class Buffer;
  std::string path_, tmp_;
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<std::ostream> stream_;
  int open_error_ = 0;  // errno of the temporary's open, or 0
  bool committed_ = false;
};

// `contents` written to `path` through an AtomicFile (its errors).
Status WriteFileAtomic(const std::string& path, const std::string& contents);

// Cuts a line-per-record file that a killed writer left with half a line at its end back to its
// last complete line, so that what is appended next starts a line of its own. Nothing for a
// file that is absent, empty or ends with a newline; a regular file only.
Status DropPartialLastLine(const std::string& path);

}  // namespace entrenar

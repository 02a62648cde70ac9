#include "entrenar/base/files.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar {
namespace {

std::size_t Entries(const std::string& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                                std::filesystem::directory_iterator()));
}

TEST_CASE("WriteFileAtomic replaces a file whole and leaves no temporary", "[unit][base]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/f.txt";
  REQUIRE(WriteFileAtomic(path, "first").ok());
  REQUIRE(WriteFileAtomic(path, "second\n").ok());
  CHECK(*ReadWholeFile(path) == "second\n");
  CHECK(Entries(dir.path) == 1);
  CHECK(WriteFileAtomic(dir.path + "/missing/f.txt", "x").code() == StatusCode::kDataLoss);
}

// Files may grow to `bytes` at most while it lives (writes past it fail with EFBIG, as writes to
// a full disk fail with ENOSPC).
struct FileSizeLimit {
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved);
    old_handler = signal(SIGXFSZ, SIG_IGN);
    rlimit small = saved;
    small.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &small);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
  }
  rlimit saved{};
  sighandler_t old_handler;
};

TEST_CASE("AtomicFile keeps a write error from its writer and reports it on Commit",
          "[unit][base]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/model.bin";
  REQUIRE(WriteFileAtomic(path, "the previous version").ok());
  Status committed;
  {
    const FileSizeLimit limit(4096);
    AtomicFile file(path);
    // The stream stays good however much is written: a writer that aborts on a failed stream
    // (LibTorch's archives) never sees the error.
    for (int i = 0; i < 64; ++i) file.stream() << std::string(1024, 'x');
    CHECK(file.stream().good());
    committed = file.Commit();
  }
  CHECK(committed.code() == StatusCode::kResourceExhausted);
  CHECK_THAT(committed.message(),
             Catch::Contains("cannot write " + path) && Catch::Contains("File too large"));
  // The old file is untouched and no temporary is left.
  CHECK(*ReadWholeFile(path) == "the previous version");
  CHECK(Entries(dir.path) == 1);
  // A writer dropped without Commit leaves nothing either.
  {
    AtomicFile abandoned(dir.path + "/other.bin");
    abandoned.stream() << "half";
  }
  CHECK(Entries(dir.path) == 1);
}

TEST_CASE("ReadWholeFile tells a missing file from a directory", "[unit][base]") {
  testing::TempDir dir;
  CHECK(ReadWholeFile(dir.path + "/none").status().code() == StatusCode::kNotFound);
  CHECK(ReadWholeFile(dir.path).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ReadWholeFile refuses a FIFO or a device at once, and holds files to a size",
          "[unit][base]") {
  testing::TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  // No writer ever opens it: a blocking open would wait here forever.
  const Result<std::string> from_fifo = ReadWholeFile(fifo);
  CHECK(from_fifo.status().code() == StatusCode::kInvalidArgument);
  CHECK(from_fifo.status().message() ==
        fifo + " is a FIFO, not a regular file: only files are read");
  const Result<std::string> zero = ReadWholeFile("/dev/zero");
  CHECK(zero.status().message() ==
        "/dev/zero is a device, not a regular file: only files are read");
  // Where pipes are allowed, a FIFO is read to its writer's end, within the limit.
  std::thread writer([&] { std::ofstream(fifo) << "name: piped\n"; });
  const Result<std::string> piped = ReadWholeFile(fifo, {1024, /*pipes=*/true});
  writer.join();
  REQUIRE(piped.ok());
  CHECK(*piped == "name: piped\n");
  // The writer gets EPIPE once the reader stops: it is not left blocked.
  signal(SIGPIPE, SIG_IGN);
  std::thread flood([&] { std::ofstream(fifo) << std::string(1 << 20, 'y'); });
  const Result<std::string> flooded = ReadWholeFile(fifo, {1024, /*pipes=*/true});
  CHECK(flooded.status().message() == fifo + " is larger than the 1024 bytes allowed");
  flood.join();
  const std::string big = dir.path + "/big";
  REQUIRE(WriteFileAtomic(big, std::string(3 << 20, 'z')).ok());
  CHECK(ReadWholeFile(big, {2 << 20}).status().message() ==
        big + " is larger than the 2 MiB allowed");
  CHECK(ReadWholeFile(big, {3 << 20})->size() == 3u << 20);
}

TEST_CASE("DropPartialLastLine cuts a killed writer's half line and nothing else", "[unit][base]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/events.jsonl";
  CHECK(DropPartialLastLine(path).ok());  // absent: nothing to do
  CHECK(!std::filesystem::exists(path));
  REQUIRE(WriteFileAtomic(path, "{\"a\":1}\n{\"b\":2}\n").ok());
  CHECK(DropPartialLastLine(path).ok());
  CHECK(*ReadWholeFile(path) == "{\"a\":1}\n{\"b\":2}\n");
  REQUIRE(WriteFileAtomic(path, "{\"a\":1}\n{\"b\":").ok());
  CHECK(DropPartialLastLine(path).ok());
  CHECK(*ReadWholeFile(path) == "{\"a\":1}\n");
  // A line longer than the blocks it is read back in.
  REQUIRE(WriteFileAtomic(path, "x\n" + std::string(10000, 'y')).ok());
  CHECK(DropPartialLastLine(path).ok());
  CHECK(*ReadWholeFile(path) == "x\n");
  REQUIRE(WriteFileAtomic(path, std::string(5000, 'z')).ok());  // no line at all
  CHECK(DropPartialLastLine(path).ok());
  CHECK(ReadWholeFile(path)->empty());
  // A FIFO is refused, not waited on; a symlink is not followed.
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(DropPartialLastLine(fifo).code() == StatusCode::kFailedPrecondition);
  REQUIRE(WriteFileAtomic(dir.path + "/target", "keep").ok());
  std::filesystem::create_symlink(dir.path + "/target", dir.path + "/link");
  CHECK(!DropPartialLastLine(dir.path + "/link").ok());
  CHECK(*ReadWholeFile(dir.path + "/target") == "keep");
}

}  // namespace
}  // namespace entrenar

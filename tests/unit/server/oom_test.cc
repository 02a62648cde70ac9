#include "entrenar/supervisor/oom.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar::supervisor {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

// A /proc and a /sys/fs/cgroup of our own: process 42 in `cgroup_line`'s cgroup.
struct FakeSystem {
  testing::TempDir dir;
  std::string proc = dir.path + "/proc", root = dir.path + "/cgroup";
  explicit FakeSystem(const std::string& cgroup_line) {
    Write(proc + "/42/cgroup", cgroup_line);
    Vmstat(3);
  }
  void Vmstat(int kills) {
    Write(proc + "/vmstat", "pgfault 100\noom_kill " + std::to_string(kills) + "\nnr_foo 1\n");
  }
};

TEST_CASE("An out-of-memory kill in a worker's cgroup v2 is told from another SIGKILL",
          "[unit][supervisor]") {
  FakeSystem sys("0::/system.slice/entrenard.service\n");
  const std::string cg = sys.root + "/system.slice/entrenard.service";
  Write(cg + "/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n");
  Write(cg + "/memory.max", "536870912\n");
  const OomWatch start = WatchOom(42, sys.proc, sys.root);
  CHECK(start.cgroup_dir == cg);
  CHECK(start.cgroup_kills == 1);
  CHECK(start.system_kills == 3);
  CHECK(OomReason(start, sys.proc).empty());  // nothing since: another SIGKILL
  Write(cg + "/memory.events", "low 0\nhigh 0\nmax 40\noom 2\noom_kill 2\n");
  sys.Vmstat(4);
  CHECK(OomReason(start, sys.proc) ==
        "the worker was killed by the out-of-memory killer: its memory cgroup " + cg +
            " is limited to 512 MiB (lower data.loader.batch_size or the model's size, or give "
            "the job more memory)");
  Write(cg + "/memory.max", "max\n");
  CHECK_THAT(OomReason(start, sys.proc), Catch::Contains(cg + " is full"));
}

TEST_CASE("cgroup v1's memory controller and the machine's own count are read too",
          "[unit][supervisor]") {
  FakeSystem sys("12:pids:/user.slice\n4:memory:/lab/jobs\n1:name=systemd:/user.slice\n");
  const std::string cg = sys.root + "/memory/lab/jobs";
  Write(cg + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  Write(cg + "/memory.limit_in_bytes", "1610612736\n");
  const OomWatch start = WatchOom(42, sys.proc, sys.root);
  CHECK(start.cgroup_dir == cg);
  CHECK(start.cgroup_kills == 0);
  Write(cg + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  CHECK_THAT(OomReason(start, sys.proc), Catch::Contains("is limited to 1.5 GiB"));
  // No cgroup count rose, the machine's did: probably the machine's OOM killer.
  Write(cg + "/memory.oom_control", "oom_kill 0\n");
  sys.Vmstat(9);
  CHECK_THAT(OomReason(start, sys.proc),
             Catch::StartsWith("the worker was probably killed by the out-of-memory killer: the "
                               "machine ran out of memory"));
  // A process that is gone, or a system without the files: nothing known, nothing claimed.
  const OomWatch unknown = WatchOom(7, sys.proc + "/none", sys.root);
  CHECK(unknown.cgroup_dir.empty());
  CHECK(OomReason(unknown, sys.proc + "/none").empty());
}

}  // namespace
}  // namespace entrenar::supervisor

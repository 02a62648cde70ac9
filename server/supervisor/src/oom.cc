#include "entrenar/supervisor/oom.h"

#include <fstream>
#include <sstream>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"

namespace entrenar::supervisor {
namespace {

// The value of `key` in a "key value" per line file (memory.events, vmstat); -1 when absent.
std::int64_t Count(const std::string& path, const std::string& key) {
  const Result<std::string> text = ReadWholeFile(path, {1 << 20, false});
  if (!text.ok()) return -1;
  std::istringstream in(*text);
  std::string name;
  std::int64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return -1;
}

// The oom_kill count of a memory cgroup directory (v2, then v1).
std::int64_t CgroupKills(const std::string& dir) {
  const std::int64_t v2 = Count(dir + "/memory.events", "oom_kill");
  return v2 >= 0 ? v2 : Count(dir + "/memory.oom_control", "oom_kill");
}

// "512 MiB" from memory.max (v2) or memory.limit_in_bytes (v1); "" when unlimited or unknown.
std::string Limit(const std::string& dir) {
  for (const char* file : {"/memory.max", "/memory.limit_in_bytes"}) {
    const Result<std::string> text = ReadWholeFile(dir + file, {4096, false});
    if (!text.ok()) continue;
    const std::string value(Trim(*text));
    if (value.empty() || value == "max") return "";
    const double bytes = std::strtod(value.c_str(), nullptr);
    if (bytes <= 0 || bytes >= 9e18) return "";  // v1's "unlimited"
    std::ostringstream out;
    out.precision(bytes >= 1024.0 * 1024 * 1024 ? 3 : 4);
    if (bytes >= 1024.0 * 1024 * 1024) {
      out << bytes / (1024.0 * 1024 * 1024) << " GiB";
    } else {
      out << bytes / (1024.0 * 1024) << " MiB";
    }
    return out.str();
  }
  return "";
}

// The memory cgroup of `pid`: v2's "0::/path", else v1's "N:...memory...:/path".
std::string CgroupDir(pid_t pid, const std::string& proc, const std::string& root) {
  const Result<std::string> text =
      ReadWholeFile(proc + "/" + std::to_string(pid) + "/cgroup", {1 << 16, false});
  if (!text.ok()) return "";
  std::istringstream in(*text);
  std::string v2;
  for (std::string line; std::getline(in, line);) {
    const std::size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (path.find("..") != std::string::npos) continue;
    if (controllers.empty()) v2 = root + path;
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name == "memory") return root + "/memory" + path;
    }
  }
  return v2;
}

}  // namespace

OomWatch WatchOom(pid_t pid, const std::string& proc, const std::string& cgroup_root) {
  OomWatch w;
  w.cgroup_dir = CgroupDir(pid, proc, cgroup_root);
  if (!w.cgroup_dir.empty()) w.cgroup_kills = CgroupKills(w.cgroup_dir);
  w.system_kills = Count(proc + "/vmstat", "oom_kill");
  return w;
}

std::string OomReason(const OomWatch& start, const std::string& proc) {
  const std::string hint =
      " (lower data.loader.batch_size or the model's size, or give the job more memory)";
  if (start.cgroup_kills >= 0 && CgroupKills(start.cgroup_dir) > start.cgroup_kills) {
    const std::string limit = Limit(start.cgroup_dir);
    return "the worker was killed by the out-of-memory killer: its memory cgroup " +
           start.cgroup_dir + (limit.empty() ? " is full" : " is limited to " + limit) + hint;
  }
  if (start.system_kills >= 0 && Count(proc + "/vmstat", "oom_kill") > start.system_kills) {
    return "the worker was probably killed by the out-of-memory killer: the machine ran out of "
           "memory while it ran" +
           hint;
  }
  return "";
}

}  // namespace entrenar::supervisor

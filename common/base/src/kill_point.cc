#include "entrenar/base/kill_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace entrenar {
namespace {

struct Target {
  std::string name;  // empty: no kill point set
  long pass = 1;     // which pass kills
};

// ENTRENAR_KILL_AT, read once.
const Target& TargetFromEnvironment() {
  static const Target target = [] {
    Target t;
    const char* value = std::getenv("ENTRENAR_KILL_AT");
    if (!value) return t;
    t.name = value;
    const std::size_t at = t.name.find('@');
    if (at != std::string::npos) {
      t.pass = std::max(1L, std::strtol(t.name.c_str() + at + 1, nullptr, 10));
      t.name.resize(at);
    }
    return t;
  }();
  return target;
}

}  // namespace

void KillPoint(std::string_view name, const std::function<void()>& before) {
  const Target& target = TargetFromEnvironment();
  if (target.name.empty() || name != target.name) return;
  static std::atomic<long> passes{0};
  if (++passes != target.pass) return;
  if (before) before();
  kill(getpid(), SIGKILL);
  _exit(137);  // not reached
}

}  // namespace entrenar

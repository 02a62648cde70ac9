#include "entrenar/base/clock.h"

#include <ctime>

namespace entrenar {

std::string FormatUtcIso(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string NowUtcIso() { return FormatUtcIso(std::chrono::system_clock::now()); }

}  // namespace entrenar

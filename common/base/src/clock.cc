#include "entrenar/base/clock.h"

#include <cstdio>
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

std::string FormatUtcIsoMillis(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  std::string out = FormatUtcIso(
      std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::seconds>(ms)));
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03d", static_cast<int>(((ms.count() % 1000) + 1000) % 1000));
  out.insert(out.size() - 1, frac);
  return out;
}

std::string NowUtcIso() { return FormatUtcIso(std::chrono::system_clock::now()); }

namespace {

class RealClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace entrenar

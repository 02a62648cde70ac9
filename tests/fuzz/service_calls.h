#pragma once

// How service_fuzz.cc's inputs are laid out, for the target and for the seed writer: a sequence
// of calls, each [method byte][length: two bytes, little-endian][that many bytes of the request's
// protobuf encoding] (the last call takes what is left when fewer bytes remain).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace entrenar::fuzz {

enum class Method : std::uint8_t {
  kValidate,
  kSubmit,
  kGetJob,
  kListJobs,
  kCancelJob,
  kResumeJob,
  kGetMetrics,
  kListCheckpoints,
  kClusterStatus,
  kReport,  // a worker's WorkerReport, through Supervisor::Receive
};
constexpr int kMethods = 10;
constexpr std::size_t kMaxCalls = 16;

struct Call {
  Method method;
  std::string bytes;  // the request, encoded
};

inline std::vector<Call> SplitCalls(const std::uint8_t* data, std::size_t size) {
  std::vector<Call> calls;
  std::size_t at = 0;
  while (at + 3 <= size && calls.size() < kMaxCalls) {
    const auto method = static_cast<Method>(data[at] % kMethods);
    const std::size_t written = data[at + 1] | (std::size_t{data[at + 2]} << 8);
    const std::size_t length = std::min(written, size - at - 3);
    calls.push_back({method, std::string(reinterpret_cast<const char*>(data + at + 3), length)});
    at += 3 + length;
  }
  return calls;
}

// A request as one call of an input (cut at 65535 bytes).
inline std::string EncodeCall(Method method, const std::string& request) {
  const std::size_t length = std::min<std::size_t>(request.size(), 0xffff);
  std::string out;
  out.push_back(static_cast<char>(method));
  out.push_back(static_cast<char>(length & 0xff));
  out.push_back(static_cast<char>(length >> 8));
  out.append(request, 0, length);
  return out;
}

}  // namespace entrenar::fuzz

#include "entrenar/run/layout.h"

#include <charconv>
#include <filesystem>

namespace entrenar::run {

std::string Layout::CheckpointName(std::int64_t step) { return "step-" + std::to_string(step); }

std::optional<std::int64_t> Layout::ParseCheckpointName(std::string_view name) {
  constexpr std::string_view kPrefix = "step-";
  if (name.substr(0, kPrefix.size()) != kPrefix || name.size() == kPrefix.size()) {
    return std::nullopt;
  }
  const std::string_view digits = name.substr(kPrefix.size());
  std::int64_t step = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits[0] == '-') {
    return std::nullopt;
  }
  return step;
}

std::string Layout::RunOfCheckpoint(const std::string& checkpoint_dir) {
  std::filesystem::path p = std::filesystem::path(checkpoint_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "RUN/checkpoints/step-N/"
  return p.parent_path().parent_path().string();
}

}  // namespace entrenar::run

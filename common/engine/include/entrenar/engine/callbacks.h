#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// When callbacks (SPEC §9) run, in the order a run meets them.
//   step            after every `interval`-th optimizer step
//   epoch_end       after every `interval`-th epoch, once its validation is done
//   validation_end  after every `interval`-th validation
//   train_end       once, when training ends (before the test split is evaluated)
enum class Trigger { kStep, kEpochEnd, kValidationEnd, kTrainEnd };

std::optional<Trigger> ParseTrigger(std::string_view name);
std::string_view TriggerName(Trigger t);

// Whether `cb` runs at the `count`-th (1-based) occurrence of `t`: its trigger is `t` and
// `count` is a multiple of its interval (train_end: always).
bool CallbackDue(const manifest::CallbackConfig& cb, Trigger t, std::int64_t count);

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal, or could not start
  bool timed_out = false;
  std::string error;  // why it could not start
};

// Runs `argv` (argv[0] found on PATH) in `cwd` (empty: ours), in its own process group, with
// `input` on stdin and `env` added to the environment; its stdout and stderr are appended to
// `log_path`. Past `timeout` the whole group is killed (SIGTERM, then SIGKILL after 2 s).
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input,
                         const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout, const std::string& log_path,
                         const std::string& cwd = "");

}  // namespace entrenar::engine

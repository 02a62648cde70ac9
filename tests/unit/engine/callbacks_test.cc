#include "entrenar/engine/callbacks.h"

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"

#include "temp_dir.h"

namespace entrenar::engine {
namespace {

manifest::CallbackConfig Callback(const std::string& trigger, std::int64_t interval) {
  manifest::CallbackConfig cb;
  cb.type = "custom";
  cb.trigger = trigger;
  cb.interval = interval;
  return cb;
}

TEST_CASE("callbacks are due at every interval-th occurrence of their trigger", "[unit][engine]") {
  const auto every3 = Callback("step", 3);
  CHECK_FALSE(CallbackDue(every3, Trigger::kStep, 1));
  CHECK_FALSE(CallbackDue(every3, Trigger::kStep, 2));
  CHECK(CallbackDue(every3, Trigger::kStep, 3));
  CHECK(CallbackDue(every3, Trigger::kStep, 6));
  CHECK_FALSE(CallbackDue(every3, Trigger::kEpochEnd, 3));
  CHECK(CallbackDue(Callback("epoch_end", 1), Trigger::kEpochEnd, 1));
  CHECK(CallbackDue(Callback("validation_end", 2), Trigger::kValidationEnd, 4));
  CHECK_FALSE(CallbackDue(Callback("validation_end", 2), Trigger::kValidationEnd, 3));
  CHECK(CallbackDue(Callback("train_end", 5), Trigger::kTrainEnd, 1));
  CHECK(CallbackDue(Callback("step", 0), Trigger::kStep, 7));  // an interval under 1 is 1
  CHECK(ParseTrigger("epoch_end") == Trigger::kEpochEnd);
  CHECK_FALSE(ParseTrigger("epoch").has_value());
  CHECK(TriggerName(Trigger::kValidationEnd) == "validation_end");
}

TEST_CASE("a callback command gets stdin, environment and cwd, and its output goes to the log",
          "[unit][engine]") {
  testing::TempDir dir;
  const std::string log = dir.path + "/cb.log";
  const CommandResult r = RunCommand(
      {"sh", "-c", "read line; echo \"in=$line step=$ENTRENAR_STEP cwd=$(pwd)\"; exit 4"},
      "{\"step\": 7}\n", {{"ENTRENAR_STEP", "7"}}, std::chrono::seconds(10), log, dir.path);
  CHECK(r.error.empty());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 4);
  CHECK(*ReadWholeFile(log) == "in={\"step\": 7} step=7 cwd=" + dir.path + "\n");
  // Appended, not replaced; a command that ignores its stdin is fine.
  CHECK(RunCommand({"true"}, std::string(1 << 20, 'x'), {}, std::chrono::seconds(10), log)
            .exit_code == 0);
  CHECK(ReadWholeFile(log)->size() > 10);
}

TEST_CASE(
    "a callback command that hangs is killed with its children, one that is missing "
    "says so",
    "[unit][engine]") {
  testing::TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const std::string pid_file = dir.path + "/child.pid";
  const CommandResult slow =
      RunCommand({"sh", "-c", "sleep 30 & echo $! > " + pid_file + "; sleep 30"}, "", {},
                 std::chrono::milliseconds(500), dir.path + "/log");
  CHECK(slow.timed_out);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  // The background child is gone too (or a zombie waiting for init): never left running.
  const Result<std::string> pid = ReadWholeFile(pid_file);
  REQUIRE(pid.ok());
  const std::string stat = "/proc/" + std::string(Trim(*pid)) + "/stat";
  auto alive = [&] {
    const Result<std::string> s = ReadWholeFile(stat);
    if (!s.ok()) return false;
    const std::size_t paren = s->rfind(')');
    return paren != std::string::npos && paren + 2 < s->size() && (*s)[paren + 2] != 'Z';
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK_FALSE(alive());
  const CommandResult missing =
      RunCommand({"/nonexistent/hook"}, "", {}, std::chrono::seconds(5), dir.path + "/log");
  CHECK(missing.error == "cannot run /nonexistent/hook: No such file or directory");
  CHECK(RunCommand({}, "", {}, std::chrono::seconds(1), dir.path + "/log").error ==
        "an empty command");
}

}  // namespace
}  // namespace entrenar::engine

// The trainer asks its sink to flush before each checkpoint, after the step the checkpoint
// holds: a worker killed just after a checkpoint must not lose that step's row (a resumed run
// continues after it). Found by the chaos test (tests/integration/chaos_test.cc).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "entrenar/engine/events.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/load.h"

#include "temp_dir.h"

namespace entrenar::engine {
namespace {

// What the trainer told the sink, in order: "metric N", "flush", "checkpoint N".
class OrderSink final : public EventSink {
 public:
  void OnEvent(const Event& e) override {
    if (e.kind == Event::Kind::kMetric) calls.push_back("metric " + std::to_string(e.step));
    if (e.kind == Event::Kind::kCheckpoint) calls.push_back("checkpoint " + std::to_string(e.step));
  }
  void Flush() override { calls.push_back("flush"); }
  std::vector<std::string> calls;
};

TEST_CASE("The trainer flushes its sink after a step and before the checkpoint that holds it",
          "[unit][engine]") {
  testing::TempDir dir;
  manifest::LoadOptions options;
  options.overrides = {"training.epochs=null", "training.max_steps=7",
                       "training.checkpoint.save_every=3"};
  const manifest::LoadResult r =
      manifest::LoadFile(std::string(ENTRENAR_SOURCE_DIR) + "/examples/iris.yaml", options);
  REQUIRE(r.ok());
  TrainOptions train;
  train.base_dir = std::string(ENTRENAR_SOURCE_DIR) + "/examples";
  train.run_dir = dir.path;
  train.seed = 1;
  OrderSink sink;
  REQUIRE(Train(*r.manifest, train, sink).ok());
  std::vector<std::string> checkpoints;
  for (std::size_t i = 0; i < sink.calls.size(); ++i) {
    if (sink.calls[i].rfind("checkpoint ", 0) != 0) continue;
    const std::string step = sink.calls[i].substr(11);
    checkpoints.push_back(step);
    INFO(sink.calls[i]);
    // Since the step's metric: a flush, and no later step.
    bool flushed = false;
    std::size_t j = i;
    while (j > 0 && sink.calls[j - 1] != "metric " + step) {
      --j;
      flushed = flushed || sink.calls[j] == "flush";
      CHECK(sink.calls[j].rfind("metric ", 0) != 0);
    }
    REQUIRE(j > 0);
    CHECK(flushed);
  }
  CHECK(checkpoints == std::vector<std::string>{"3", "6", "7"});
}

}  // namespace
}  // namespace entrenar::engine

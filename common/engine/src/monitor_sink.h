#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "entrenar/engine/events.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/expr/monitor.h"
#include "entrenar/manifest/manifest.h"

#include "system_sampler.h"

namespace entrenar::engine {

// monitoring.system and monitoring.alerts, between the trainer and the run's sink: the first
// step after each system sample carries it (so it is recorded), alerts read the latest sample
// at every step, and every metric and validation event is checked against the rules; a rule that
// fires sends an `alert` event on, and its action runs: `warn` only the event, `checkpoint` a
// checkpoint at the end of the step, `halt` a checkpoint and the end of the run (HALTED). `loss`
// names the training loss.
class MonitorSink : public EventSink {
 public:
  // `outer_stop`: the caller's stop request (SIGTERM), passed on through stop().
  MonitorSink(const manifest::Manifest& m, EventSink& out, const std::atomic<bool>* outer_stop);

  void OnEvent(const Event& e) override;

  // For the trainer: stop after this step / checkpoint now (cleared by the trainer).
  const std::atomic<bool>* stop() const { return &stop_; }
  std::atomic<bool>* checkpoint() { return &checkpoint_; }

  bool halted() const { return halted_; }
  const std::vector<AlertRecord>& fired() const { return fired_; }

 private:
  EventSink& out_;
  const std::atomic<bool>* outer_stop_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> checkpoint_{false};
  bool halted_ = false;
  std::vector<AlertRecord> fired_;
  std::optional<expr::AlertMonitor> monitor_;
  std::unique_ptr<SystemSampler> sampler_;
  std::uint64_t sample_version_ = 0;
  std::map<std::string, double> sample_;  // the latest system sample
};

}  // namespace entrenar::engine

#pragma once

#include <memory>
#include <optional>
#include <string>
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
  MonitorSink(const manifest::Manifest& m, EventSink& out);

  void OnEvent(const Event& e) override;
  // The actions of the alerts that fired since the last call (a halt is returned once).
  Verdict TakeVerdict() override;
  void Flush() override { out_.Flush(); }

  bool halted() const { return halted_; }
  const std::vector<AlertRecord>& fired() const { return fired_; }

 private:
  // The value of metric `name` at event `e`, as the rules name it: `step` and `epoch` are the
  // event's, `loss` / `lr` / `throughput` the step's training loss, learning rate and samples per
  // second, a validation metric may drop its `val_` prefix, and system metrics come from the
  // latest sample; nullopt when `e` does not carry it.
  std::optional<double> Value(const std::string& name, const Event& e) const;

  EventSink& out_;
  Verdict pending_;
  bool halted_ = false;
  std::vector<AlertRecord> fired_;
  std::optional<expr::AlertMonitor> monitor_;
  std::unique_ptr<SystemSampler> sampler_;
  std::uint64_t sample_version_ = 0;
  std::map<std::string, double> sample_;  // the latest system sample
};

}  // namespace entrenar::engine

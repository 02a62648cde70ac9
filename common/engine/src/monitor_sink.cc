#include "monitor_sink.h"

#include <optional>
#include <string>
#include <utility>

#include "entrenar/manifest/metric_names.h"

namespace entrenar::engine {

MonitorSink::MonitorSink(const manifest::Manifest& m, EventSink& out) : out_(out) {
  std::vector<expr::AlertMonitor::Rule> rules;
  for (const manifest::AlertConfig& a : m.monitoring.alerts) {
    rules.push_back({a.condition, a.action, a.message.value_or("")});
  }
  expr::Outcome<expr::AlertMonitor> monitor = expr::AlertMonitor::Create(rules);
  // Validation checked the conditions already.
  if (monitor.ok() && !rules.empty()) monitor_ = std::move(monitor.value());
  if (m.monitoring.system.enabled) {
    sampler_ = std::make_unique<SystemSampler>(
        std::chrono::milliseconds(m.monitoring.system.interval), m.monitoring.system.metrics);
  }
}

void MonitorSink::OnEvent(const Event& e) {
  if (e.kind == Event::Kind::kAlert) {  // raised by the engine itself (a failed callback)
    const auto field = [&](const char* k) { return e.fields.count(k) ? e.fields.at(k) : ""; };
    fired_.push_back({e.step, field("condition"), field("action"), e.text});
  }
  if (!monitor_ && !sampler_) {  // nothing to watch: passed on as it is
    out_.OnEvent(e);
    return;
  }
  // A new system sample goes into the first step row after it was taken; alerts read the
  // latest sample at every step.
  const bool fresh =
      sampler_ && e.kind == Event::Kind::kMetric && sampler_->version() != sample_version_;
  const bool renamed = halted_ && e.kind == Event::Kind::kState && e.text == "stopped";
  if (fresh) {
    sample_version_ = sampler_->version();
    sample_ = sampler_->Latest();
  }
  if (fresh || renamed) {
    Event forwarded = e;
    if (fresh) forwarded.values.insert(sample_.begin(), sample_.end());
    if (renamed) forwarded.text = "halted";
    out_.OnEvent(forwarded);
  } else {
    out_.OnEvent(e);
  }
  const bool observed =
      e.kind == Event::Kind::kMetric ||
      (e.kind == Event::Kind::kValidation && e.text != "test" && e.text != "cross_validation");
  if (!monitor_ || !observed) return;
  std::map<std::string, double> values;
  for (const std::string& name : monitor_->watched()) {
    if (std::optional<double> v = Value(name, e)) values.emplace(name, *v);
  }
  for (const expr::AlertMonitor::Fired& f : monitor_->Observe(e.step, values)) {
    Event alert;
    alert.kind = Event::Kind::kAlert;
    alert.step = e.step;
    alert.epoch = e.epoch;
    alert.text = f.message;
    alert.fields = {{"condition", f.condition}, {"action", f.action}};
    out_.OnEvent(alert);
    fired_.push_back({e.step, f.condition, f.action, f.message});
    if (f.action == "halt" && !halted_) {
      halted_ = true;
      pending_.halt = true;
      Event log;
      log.kind = Event::Kind::kLog;
      log.step = e.step;
      log.epoch = e.epoch;
      log.text = "halted by an alert at step " + std::to_string(e.step) + ": " + f.message;
      out_.OnEvent(log);
    } else if (f.action == "checkpoint") {
      pending_.checkpoint = true;
    }
  }
}

std::optional<double> MonitorSink::Value(const std::string& name, const Event& e) const {
  if (name == "step") return static_cast<double>(e.step);
  if (name == "epoch") return static_cast<double>(e.epoch);
  const bool step_row = e.kind == Event::Kind::kMetric;
  std::string key = step_row ? manifest::StepMetricKey(name) : name;
  if (!step_row && name != "loss" && name.rfind("val_", 0) != 0) {
    key = "val_" + name;  // a validation metric by its bare name: `accuracy`
  }
  if (auto it = e.values.find(key); it != e.values.end()) return it->second;
  if (auto s = sample_.find(key); step_row && s != sample_.end()) return s->second;
  return std::nullopt;
}

Verdict MonitorSink::TakeVerdict() { return std::exchange(pending_, Verdict{}); }

}  // namespace entrenar::engine

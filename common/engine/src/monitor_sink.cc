#include "monitor_sink.h"

namespace entrenar::engine {

MonitorSink::MonitorSink(const manifest::Manifest& m, EventSink& out,
                         const std::atomic<bool>* outer_stop)
    : out_(out), outer_stop_(outer_stop) {
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
  if (outer_stop_ && outer_stop_->load()) stop_ = true;
  if (e.kind == Event::Kind::kAlert) {  // raised by the engine itself (a failed callback)
    const auto field = [&](const char* k) { return e.fields.count(k) ? e.fields.at(k) : ""; };
    fired_.push_back({e.step, field("condition"), field("action"), e.text});
  }
  if (!monitor_ && !sampler_) {  // nothing to watch: passed on as it is
    out_.OnEvent(e);
    return;
  }
  Event forwarded = e;
  if (sampler_ && e.kind == Event::Kind::kMetric) {
    if (sampler_->version() != sample_version_) {
      sample_version_ = sampler_->version();
      sample_ = sampler_->Latest();
    }
    for (const auto& [k, v] : sample_) forwarded.values[k] = v;
  }
  if (halted_ && e.kind == Event::Kind::kState && e.text == "stopped") forwarded.text = "halted";
  out_.OnEvent(forwarded);
  const bool observed =
      e.kind == Event::Kind::kMetric ||
      (e.kind == Event::Kind::kValidation && e.text != "test" && e.text != "cross_validation");
  if (!monitor_ || !observed) return;
  std::map<std::string, double> values = forwarded.values;
  if (auto it = values.find("train_loss"); it != values.end()) values["loss"] = it->second;
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
      stop_ = true;
      Event log;
      log.kind = Event::Kind::kLog;
      log.step = e.step;
      log.epoch = e.epoch;
      log.text = "halted by an alert at step " + std::to_string(e.step) + ": " + f.message;
      out_.OnEvent(log);
    } else if (f.action == "checkpoint") {
      checkpoint_ = true;
    }
  }
}

}  // namespace entrenar::engine

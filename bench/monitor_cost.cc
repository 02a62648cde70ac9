// What monitoring adds to one training step, measured directly: the same step events (the
// digits MLP's five values) pushed through the monitor (alert rules and the system sample
// merge) and the TensorBoard tracker, in nanoseconds per step, against a sink that does
// nothing; and the system sampler's own CPU time per sample. Repeatable where end-to-end
// steps/s on a shared machine are not (bench/monitoring).
//   build/bin/bench_monitor_cost [STEPS]
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "entrenar/engine/events.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/monitor/tensorboard.h"

#include "monitor_sink.h"

namespace {

using entrenar::engine::Event;

struct NullSink : entrenar::engine::EventSink {
  void OnEvent(const Event& e) override { seen += e.values.size(); }
  std::size_t seen = 0;
};

Event StepEvent(std::int64_t step) {
  Event e;
  e.kind = Event::Kind::kMetric;
  e.step = step;
  e.epoch = 1 + step / 23;
  e.values = {{"train_loss", 2.3 / static_cast<double>(step)},
              {"learning_rate", 0.002},
              {"samples_per_second", 120000},
              {"total_steps", 1e6}};
  return e;
}

double Seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// ns per step of `sink` over `steps` events, the best of five passes (thread CPU time).
template <typename Feed>
double NsPerStep(std::int64_t steps, Feed feed) {
  double best = 1e300;
  for (int pass = 0; pass < 5; ++pass) {
    const double start = Seconds(CLOCK_THREAD_CPUTIME_ID);
    for (std::int64_t s = 1; s <= steps; ++s) feed(s);
    best = std::min(best, (Seconds(CLOCK_THREAD_CPUTIME_ID) - start) * 1e9 / steps);
  }
  return best;
}

entrenar::manifest::Manifest Monitored(bool alerts, bool system) {
  entrenar::manifest::Manifest m;
  if (alerts) {
    m.monitoring.alerts = {{"loss > 10", "halt", std::nullopt},
                           {"loss.stall(200)", "warn", std::nullopt},
                           {"memory_mb > 100000", "warn", std::nullopt}};
  }
  m.monitoring.system.enabled = system;
  m.monitoring.system.interval = 100;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t steps = argc > 1 ? std::atoll(argv[1]) : 200000;
  NullSink out;
  const double bare = NsPerStep(steps, [&](std::int64_t s) { out.OnEvent(StepEvent(s)); });
  auto through = [&](bool alerts, bool system) {
    const entrenar::manifest::Manifest m = Monitored(alerts, system);
    entrenar::engine::MonitorSink sink(m, out);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));  // a first sample exists
    return NsPerStep(steps, [&](std::int64_t s) { sink.OnEvent(StepEvent(s)); }) - bare;
  };
  const double alerts = through(true, false), system = through(false, true),
               both = through(true, true);
  const std::string dir = std::filesystem::temp_directory_path() / "entrenar_bench_tb";
  auto tb = entrenar::monitor::TensorBoardTracker::Open(dir);
  if (!tb.ok()) return 1;
  const double tensorboard =
      NsPerStep(steps, [&](std::int64_t s) { (*tb)->OnRow(s, 1.7e9, StepEvent(s).values); }) - bare;
  (void)(*tb)->Close();
  std::filesystem::remove_all(dir);
  // The sampler thread: CPU time per sample, from a sampler running every 10 ms for 2 s.
  const double cpu_before = Seconds(CLOCK_PROCESS_CPUTIME_ID);
  {
    entrenar::engine::SystemSampler sampler(std::chrono::milliseconds(10), {});
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  const double per_sample_us = (Seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_before) / 200 * 1e6;
  std::printf("per step, against a sink that does nothing (%.0f ns):\n", bare);
  std::printf("  alert rules (3)            %8.0f ns\n", alerts);
  std::printf("  system sample merge        %8.0f ns\n", system);
  std::printf("  alerts + system            %8.0f ns\n", both);
  std::printf("  tensorboard tracker        %8.0f ns\n", tensorboard);
  std::printf(
      "system sampler thread        %8.1f us CPU per sample (every 100 ms: %.3f %% of a core)\n",
      per_sample_us, per_sample_us / 1000);
  std::printf("with a 280 us step (the digits MLP): %.2f %% of step time (goal < 3)\n",
              100 * (both + tensorboard + per_sample_us * 1000 * 280e-6 / 0.1) / 280e3);
  return out.seen > 0 ? 0 : 1;
}

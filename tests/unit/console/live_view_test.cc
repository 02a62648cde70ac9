#include "entrenar/console/live_view.h"

#include <sstream>

#include <catch2/catch.hpp>

namespace entrenar::console {
namespace {

TEST_CASE("The sparkline scales losses between the smallest and the largest", "[unit][cli]") {
  CHECK(Sparkline({4.0, 3.0, 2.0, 1.0}) == "█▆▃▁");
  CHECK(Sparkline({0.5, 0.5}) == "▄▄");  // flat: the middle
  CHECK(Sparkline({}).empty());
}

TEST_CASE("The status line shows progress, loss, rate and ETA from the events' times",
          "[unit][cli]") {
  std::ostringstream out;
  LiveView view(out, false);
  view.Step(1, 100, 0, 2.0, "2026-11-24T10:00:00Z");
  CHECK(view.Status() == "[························]   1%  step 1/100  epoch 0  loss 2.0000 ▄");
  view.Step(51, 100, 1, 1.0, "2026-11-24T10:00:10Z");
  // 50 steps in 10 s: 5 steps/s, 49 steps left: 9 s.
  CHECK(view.Status() ==
        "[████████████············]  51%  step 51/100  epoch 1  loss 1.0000 █▁"
        "  5.0 steps/s  ETA 00:09");
  view.Finish();
  CHECK(out.str().find("\r\033[K[") != std::string::npos);
  CHECK(out.str().back() == '\n');
}

TEST_CASE("Under a time budget the status line shows time spent and left, not a step count",
          "[unit][cli]") {
  std::ostringstream out;
  LiveView view(out, false);
  view.TimeBudget(0.5, 120);
  view.Step(1, 0, 1, 2.0, "2026-11-24T10:00:00Z");
  CHECK(view.Status() ==
        "[························]   0%  step 1  epoch 1  loss 2.0000 ▄  00:00 of 02:00, 01:59 "
        "left");
  view.TimeBudget(60.4, 120);
  view.Step(6001, 0, 3, 1.0, "2026-11-24T10:01:00Z");
  CHECK(view.Status() ==
        "[████████████············]  50%  step 6001  epoch 3  loss 1.0000 █▁  100.0 steps/s"
        "  01:00 of 02:00, 00:59 left");
  CHECK(IsProgressValue("time_budget_seconds"));
  CHECK(IsProgressValue("total_steps"));
  CHECK_FALSE(IsProgressValue("train_loss"));
}

TEST_CASE("The status line is cut to the terminal's width, by characters", "[unit][cli]") {
  CHECK(FitColumns("[██··] 50%", 4) == "[██·");
  CHECK(FitColumns("short", 80) == "short");
  std::ostringstream out;
  LiveView view(out, false, 21);
  view.Step(5, 10, 0, 1.0, "2026-11-24T10:00:00Z");
  CHECK(out.str() == "\r\033[K[████████████·······");  // 20 columns
}

TEST_CASE("Lines scroll above the status line, alerts and warnings in colour", "[unit][cli]") {
  std::ostringstream out;
  LiveView view(out, true);
  view.Line("plain");
  CHECK(out.str() == "plain\n");
  view.Step(1, 10, 0, 1.0, "2026-11-24T10:00:00Z");
  out.str("");
  view.Line("alert: loss is NaN", LiveView::Tone::kAlert);
  // Cleared status line, the red line, then the status line again.
  CHECK(out.str().rfind("\r\033[K\033[1;31malert: loss is NaN\033[0m\n\r\033[K[", 0) == 0);
  out.str("");
  view.Line("warning: slow", LiveView::Tone::kWarning);
  CHECK(out.str().find("\033[33mwarning: slow\033[0m\n") != std::string::npos);
  std::ostringstream plain;
  LiveView no_color(plain, false);
  no_color.Line("alert: x", LiveView::Tone::kAlert);
  CHECK(plain.str() == "alert: x\n");
}

TEST_CASE("monitoring.terminal chooses the metrics and charts of the status line", "[unit][cli]") {
  manifest::TerminalConfig t;
  t.metrics = {"loss", "accuracy", "lr"};
  manifest::ChartConfig bar;
  bar.type = "progress";
  bar.show_eta = false;
  manifest::ChartConfig lr;
  lr.type = "sparkline";
  lr.metric = "lr";
  lr.window = 3;
  manifest::ChartConfig grad;
  grad.type = "sparkline";
  grad.metric = "grad_norm";
  grad.window = 2;
  t.charts = {bar, lr, grad};
  std::ostringstream out;
  LiveView view(out, false);
  view.SetLayout(LayoutOf(t));
  // Before any validation the accuracy has no value yet.
  view.Values({{"learning_rate", 0.4}, {"grad_norm", 1}, {"total_steps", 100}});
  view.Step(1, 100, 1, 2.0, "2026-11-24T10:00:00Z");
  CHECK(view.Status() ==
        "[························]   1%  step 1/100  epoch 1  loss 2.0000  accuracy -  lr 0.4000 "
        "▄  grad_norm ▄");
  for (const double rate : {0.8, 0.5, 0.1}) {
    view.Values({{"learning_rate", rate}, {"grad_norm", rate * 10}});
    view.Step(2, 100, 1, 1.5, "2026-11-24T10:00:10Z");
  }
  view.Values({{"val_accuracy", 0.9667}, {"val_loss", 0.5}});  // a validation
  // The lr sparkline holds its last 3 values, grad_norm's its last 2; no ETA (show_eta: false).
  CHECK(view.Status() ==
        "[························]   2%  step 2/100  epoch 1  loss 1.5000  accuracy 0.9667  "
        "lr 0.1000 █▅▁  grad_norm █▁  0.1 steps/s");
  // Tiny and large values stay readable.
  view.Values({{"learning_rate", 1e-5}});
  CHECK_THAT(view.Status(), Catch::Contains("lr 1e-05"));
}

TEST_CASE("Without monitoring.terminal the status line is the default one", "[unit][cli]") {
  std::ostringstream a, b;
  LiveView plain(a, false), configured(b, false);
  configured.SetLayout(LayoutOf(manifest::TerminalConfig{}));
  for (LiveView* v : {&plain, &configured}) {
    v->Values({{"learning_rate", 0.1}});
    v->Step(3, 10, 1, 0.5, "2026-11-24T10:00:00Z");
  }
  CHECK(plain.Status() == configured.Status());
  CHECK(plain.Status() == "[███████·················]  30%  step 3/10  epoch 1  loss 0.5000 ▄");
}

TEST_CASE("Downloads before a run are one status line: bytes, rate, time left", "[unit][cli]") {
  CHECK(DownloadStatus(117'000'000, 260'000'000, 35'200'000, 2) ==
        "[██████████··············]  45%  downloading 2 files: 117.0 MB of 260.0 MB, 35.2 MB/s, "
        "00:04 left");
  CHECK(DownloadStatus(5'000'000, 0, 0, 1) == "downloading 1 file: 5.0 MB");
  CHECK(DownloadStatus(4'000, 1'500'000'000, 8'000, 3)
            .find("  0%  downloading 3 files: 4.0 kB of 1.5 GB, 8.0 kB/s, 52:05:00 left") !=
        std::string::npos);
  CHECK(DownloadStatus(10, 10, 5, 1).find("100%") != std::string::npos);
  // Drawn in place until the first step replaces it; "" clears it.
  std::ostringstream out;
  LiveView view(out, false);
  view.Transient(DownloadStatus(1'000'000, 2'000'000, 0, 1), true);
  CHECK(out.str() ==
        "\r\033[K[████████████············]  50%  downloading 1 file: 1.0 MB of 2.0 MB");
  out.str("");
  view.Line("downloading model.safetensors of hf://org/model");
  CHECK(out.str().rfind("\r\033[Kdownloading model.safetensors of hf://org/model\n\r\033[K[", 0) ==
        0);
  out.str("");
  view.Transient("", true);
  CHECK(out.str() == "\r\033[K");
  view.Transient("downloading 1 file: 0.0 MB", true);
  view.Step(1, 10, 0, 1.0, "2026-11-24T10:00:00Z");
  CHECK(view.Status().rfind("[██", 0) == 0);
  CHECK(view.Status().find("downloading") == std::string::npos);
}

}  // namespace
}  // namespace entrenar::console

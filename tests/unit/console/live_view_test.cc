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

}  // namespace
}  // namespace entrenar::console

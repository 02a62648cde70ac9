#include "entrenar/engine/loss_scale.h"

#include <catch2/catch.hpp>

namespace entrenar::engine {
namespace {

TEST_CASE("A dynamic loss scale halves on overflow and doubles after clean steps",
          "[unit][engine]") {
  LossScaler s = LossScaler::Dynamic(3);
  CHECK(s.scale() == 65536.0);
  CHECK_FALSE(s.Update(true));  // overflow: skip the step
  CHECK(s.scale() == 32768.0);
  CHECK(s.Update(false));
  CHECK(s.Update(false));
  CHECK(s.scale() == 32768.0);
  CHECK(s.Update(false));  // third clean step in a row
  CHECK(s.scale() == 65536.0);
  CHECK(s.Update(false));
  CHECK_FALSE(s.Update(true));  // an overflow resets the run of clean steps
  CHECK(s.clean_steps() == 0);
  CHECK(s.skipped_steps() == 2);
  for (int i = 0; i < 40; ++i) s.Update(true);
  CHECK(s.scale() == 1.0);  // never below one
}

TEST_CASE("A fixed loss scale never changes but still skips overflowing steps", "[unit][engine]") {
  LossScaler s = LossScaler::Fixed(128);
  CHECK_FALSE(s.Update(true));
  for (int i = 0; i < 5000; ++i) CHECK(s.Update(false));
  CHECK(s.scale() == 128.0);
  s.Restore(512, 7, 3);
  CHECK(s.scale() == 512.0);
  CHECK(s.clean_steps() == 7);
  CHECK(s.skipped_steps() == 3);
}

}  // namespace
}  // namespace entrenar::engine

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

using testing::FindError;
using testing::Load;
using testing::Root;

TEST_CASE("Overrides: --set values are parsed as YAML", "[unit][manifest]") {
  LoadResult r = Load(Root(), {"optimizer.betas=[0.9,0.95]", "training.epochs=5",
                               "optimizer.lr=3e-4", "model.freeze=[embed_tokens]"});
  REQUIRE(r.ok());
  CHECK(r.manifest->optimizer.betas == std::vector<double>{0.9, 0.95});
  CHECK(r.manifest->training.epochs == 5);
  CHECK(r.manifest->optimizer.lr == 3e-4);
  CHECK(r.manifest->model.freeze == std::vector<std::string>{"embed_tokens"});
}

TEST_CASE("Overrides: one budget key replaces the file's others, with a note", "[unit][manifest]") {
  const std::string file = Root("training:\n  epochs: 40\n  gradient: {clip_norm: 1}\n");
  LoadResult r = Load(file, {"training.max_steps=60"});
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  CHECK(r.manifest->training.max_steps == 60);
  CHECK_FALSE(r.manifest->training.epochs.has_value());
  CHECK(r.manifest->training.gradient.clip_norm == 1);  // the rest of training stays
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(FormatDiagnostic(r.diagnostics[0]) ==
        "t.yaml:5:3: note: training.epochs: replaced by --set training.max_steps=60 (a run has "
        "one budget)");
  // The same key overridden replaces nothing; two budgets on the command line still clash.
  CHECK(Load(file, {"training.epochs=3"}).diagnostics.empty());
  LoadResult both = Load(file, {"training.max_steps=60", "training.duration=1h"});
  CHECK_FALSE(both.ok());
  CHECK(FindError(both.diagnostics, "training.duration") != nullptr);
  // Without an override, a file with two budgets is an error as before.
  CHECK_FALSE(Load(Root("training:\n  epochs: 4\n  max_steps: 9\n")).ok());
}

TEST_CASE("Overrides: a --set value that starts with a template is a string", "[unit][manifest]") {
  LoadResult r = Load(Root(), {"monitoring.tracking.experiment={{ name }}-seed-{{ seed }}",
                               "output.dir={{ name }}/runs"});
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  CHECK(r.manifest->monitoring.tracking.experiment.value().find("-seed-") != std::string::npos);
  CHECK(r.manifest->monitoring.tracking.experiment.value().find("{{") == std::string::npos);
  CHECK(r.manifest->output.dir.find("/runs") != std::string::npos);
}

TEST_CASE("Overrides: --set reaches list items by index", "[unit][manifest]") {
  const std::string text = Root("callbacks:\n  - type: lr_monitor\n    trigger: epoch_end\n");
  LoadResult r = Load(text, {"callbacks[0].trigger=step"});
  REQUIRE(r.ok());
  CHECK(r.manifest->callbacks[0].trigger == "step");
  r = Load(text, {"callbacks[1].type=gradient_monitor"});  // index == size appends
  REQUIRE(r.ok());
  CHECK(r.manifest->callbacks.size() == 2);
  r = Load(text, {"callbacks[5].trigger=step"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].message.find("past the end") != std::string::npos);
}

TEST_CASE("Overrides: --set of an unknown path is rejected with a suggestion", "[unit][manifest]") {
  LoadResult r = Load(Root(), {"training.epoch=5"});
  REQUIRE_FALSE(r.ok());
  const Diagnostic* d = FindError(r.diagnostics, "training.epoch");
  REQUIRE(d);
  CHECK(d->hints[0] == "did you mean `epochs`?");
  CHECK(d->location.file == "--set training.epoch=5");
}

TEST_CASE("Overrides: --set values are validated like the file", "[unit][manifest]") {
  LoadResult r = Load(Root(), {"training.epochs=0"});
  REQUIRE_FALSE(r.ok());
  const Diagnostic* d = FindError(r.diagnostics, "training.epochs");
  REQUIRE(d);
  CHECK(d->location.file == "--set training.epochs=0");
  CHECK(FormatDiagnostic(*d) ==
        "--set training.epochs=0: error: training.epochs: expected an integer >= 1, found 0\n"
        "  hint: `epochs`: Passes over the training set; 10 when no budget is given.");
}

TEST_CASE("Overrides: malformed --set arguments are usage errors", "[unit][manifest]") {
  for (const char* bad : {"no_equals", "=5", "a..b=1", "a[x]=1", "a.=1"}) {
    INFO(bad);
    LoadResult r = Load(Root(), {bad});
    REQUIRE_FALSE(r.ok());
    CHECK(r.diagnostics[0].message == "expected --set PATH=VALUE");
  }
  LoadResult r = Load(Root(), {"name.x=1"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].message.find("not a mapping") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::manifest

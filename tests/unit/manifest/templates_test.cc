#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

using testing::FindError;
using testing::Load;
using testing::Root;

TEST_CASE("Built-ins and manifest references resolve (SPEC §13)", "[unit][manifest]") {
  LoadResult r =
      Load(Root("seed: 5\noutput:\n  dir: \"./exp/{{ name }}/{{ version }}/{{ date }}"
                "/{{ timestamp }}/s{{ seed }}\"\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->output.dir == "./exp/t/1/2026-01-02/2026-01-02T03:04:05Z/s5");
}

TEST_CASE("A whole-value template is typed and sees defaults", "[unit][manifest]") {
  LoadResult r = Load(
      Root("optimizer:\n  lr: \"{{ 1e-4 if lora.enabled else 1e-5 }}\"\n"
           "training:\n  effective_batch_size: \"{{ data.loader.batch_size * "
           "training.gradient.accumulation_steps }}\"\n  gradient:\n    accumulation_steps: 4\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->optimizer.lr == 1e-5);                  // lora.enabled defaults to false
  CHECK(r.manifest->training.effective_batch_size == 128);  // 32 (default) x 4
}

TEST_CASE("Templates see --set overrides", "[unit][manifest]") {
  LoadResult r = Load(Root("output:\n  dir: \"./runs/bs{{ data.loader.batch_size }}\"\n"),
                      {"data.loader.batch_size=64"});
  REQUIRE(r.ok());
  CHECK(r.manifest->output.dir == "./runs/bs64");
}

TEST_CASE("Templates: env.VAR reads the environment and needs a default when unset",
          "[unit][manifest]") {
  LoadResult r = Load(Root("data:\n  source: \"{{ env.DATA_PATH }}\"\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->data.source == "/data/train.csv");
  r = Load(Root("data:\n  source: \"{{ env.NOT_SET or './fallback.csv' }}\"\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->data.source == "./fallback.csv");
  r = Load(Root("data:\n  source: \"{{ env.NOT_SET }}\"\n"));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);  // the failed template is not reported twice
  CHECK(r.diagnostics[0].path == "data.source");
  CHECK(r.diagnostics[0].message == "template: environment variable NOT_SET is not set");
  CHECK(r.diagnostics[0].location.column == 15);  // at `env` inside the quoted string
}

TEST_CASE("Unknown names get suggestions", "[unit][manifest]") {
  LoadResult r = Load(Root("output:\n  dir: \"{{ data.loader.bach_size }}\"\n"));
  REQUIRE_FALSE(r.ok());
  const Diagnostic* d = FindError(r.diagnostics, "output.dir");
  REQUIRE(d);
  CHECK(d->message == "template: unknown name `bach_size` in `data.loader`");
  CHECK(d->hints[0] == "did you mean `batch_size`?");
  r = Load(Root("output:\n  dir: \"{{ nmae }}\"\n"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics[0].hints[0] == "did you mean `name`?");
}

TEST_CASE("Template cycles are errors naming the cycle", "[unit][manifest]") {
  LoadResult r =
      Load(Root("description: \"{{ output.dir }}\"\noutput:\n  dir: \"{{ description }}\"\n"));
  REQUIRE_FALSE(r.ok());
  bool found = false;
  for (const Diagnostic& d : r.diagnostics) {
    if (d.message.find("cycle: description -> output.dir -> description") != std::string::npos) {
      found = true;
    }
  }
  CHECK(found);
}

TEST_CASE("Literal braces: {{ '{{' }} and the !raw tag", "[unit][manifest]") {
  LoadResult r =
      Load(Root("description: \"chat: {{ '{{' }} message {{ '}}' }}\"\n"
                "output:\n  dir: !raw \"./{{ not_a_template }}\"\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->description == "chat: {{ message }}");
  CHECK(r.manifest->output.dir == "./{{ not_a_template }}");
}

TEST_CASE("A templated value is still type- and range-checked", "[unit][manifest]") {
  LoadResult r = Load(Root("training:\n  epochs: \"{{ 2 - 2 }}\"\n"));
  REQUIRE_FALSE(r.ok());
  const Diagnostic* d = FindError(r.diagnostics, "training.epochs");
  REQUIRE(d);
  CHECK(d->message == "expected an integer >= 1, found 0");
  CHECK(d->location.line == 5);
}

TEST_CASE("The timestamp is fixed once per resolution", "[unit][manifest]") {
  LoadResult r =
      Load(Root("description: \"{{ timestamp }}\"\noutput:\n  dir: \"{{ timestamp }}\"\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->description == r.manifest->output.dir);
}

}  // namespace
}  // namespace entrenar::manifest

#include "entrenar/manifest/load.h"

#include <catch2/catch.hpp>

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

using testing::FindError;
using testing::Load;
using testing::Root;

TEST_CASE("A minimal manifest gets the defaults of SPEC Appendix A", "[unit][manifest]") {
  LoadResult r = Load(Root());
  REQUIRE(r.ok());
  const Manifest& m = *r.manifest;
  CHECK(m.data.format == "auto");
  CHECK_FALSE(m.data.split);
  CHECK(EffectiveSplit(m.data).train == 0.8);
  CHECK(EffectiveSplit(m.data).test == 0.1);
  CHECK(m.data.loader.batch_size == 32);
  CHECK(m.data.loader.shuffle);
  CHECK(m.model.device == "auto");
  CHECK(m.model.dtype == "float32");
  CHECK(m.optimizer.name == "adamw");
  CHECK(m.optimizer.lr == 0.001);
  CHECK(m.optimizer.betas == std::vector<double>{0.9, 0.999});
  CHECK(m.optimizer.eps == 1e-8);
  CHECK(m.scheduler.name == "cosine_annealing");
  CHECK(EffectiveEpochs(m.training) == 10);
  CHECK(m.training.gradient.accumulation_steps == 1);
  CHECK_FALSE(m.training.gradient.clip_norm);
  CHECK(m.training.checkpoint.save_every == 1000);
  CHECK(m.training.checkpoint.keep_last == 3);
  CHECK(m.lora.rank == 16);
  CHECK(m.lora.alpha == 32);
  CHECK(m.quantize.bits == 8);
  CHECK(m.monitoring.terminal.enabled);
  CHECK(m.output.dir == "./output");
  CHECK(m.output.model.format == "safetensors");
  CHECK_FALSE(m.seed);
}

TEST_CASE("Floats in 1e-4 form and typed values are read", "[unit][manifest]") {
  LoadResult r =
      Load(Root("optimizer:\n  lr: 2e-4\n  eps: 1e-8\nscheduler:\n  eta_min: 1e-6\n"
                "training:\n  max_steps: 1e4\n  duration_unused: 1\n"));
  REQUIRE_FALSE(r.ok());  // duration_unused is unknown
  r = Load(Root("optimizer:\n  lr: 2e-4\n  eps: 1e-8\ntraining:\n  max_steps: 1e4\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->optimizer.lr == 2e-4);
  CHECK(r.manifest->training.max_steps == 10000);
}

TEST_CASE("Durations accept shorthand and ISO 8601", "[unit][manifest]") {
  for (auto [text, secs] : std::vector<std::pair<std::string, double>>{{"90s", 90},
                                                                       {"1h30m", 5400},
                                                                       {"2h", 7200},
                                                                       {"PT1H30M", 5400},
                                                                       {"P1DT2H", 93600},
                                                                       {"1.5h", 5400},
                                                                       {"500ms", 0.5},
                                                                       {"45", 45},
                                                                       {"\"45\"", 45}}) {
    INFO(text);
    LoadResult r = Load(Root("training:\n  duration: " + text + "\n"));
    REQUIRE(r.ok());
    CHECK(r.manifest->training.duration->seconds == Approx(secs));
  }
  LoadResult bad = Load(Root("training:\n  duration: 2 hours\n"));
  REQUIRE_FALSE(bad.ok());
  CHECK(FindError(bad.diagnostics, "training.duration"));
}

TEST_CASE("A time budget with the default schedule keeps the learning rate constant, and says so",
          "[unit][manifest]") {
  LoadResult r = Load(Root("training:\n  duration: 2h\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->scheduler.name == "constant");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].severity == Severity::kNote);
  CHECK(r.diagnostics[0].location.line == 5);
  CHECK_THAT(r.diagnostics[0].message,
             Catch::Contains("the learning rate stays constant on a time budget"));
  // Its resolved form says what the run does, and loads without the note.
  LoadResult again = LoadText(ToYaml(*r.manifest), "resolved.yaml", {});
  REQUIRE(again.ok());
  CHECK(again.manifest->scheduler.name == "constant");
  CHECK(again.diagnostics.empty());
  // With T_max the default schedule decays over it; written out, a schedule that needs the
  // length is refused.
  CHECK(Load(Root("training:\n  duration: 2h\nscheduler:\n  T_max: 100\n"))
            .manifest->scheduler.name == "cosine_annealing");
  LoadResult cosine = Load(Root("training:\n  duration: 2h\nscheduler:\n  name: cosine\n"));
  CHECK(FindError(cosine.diagnostics, "training.duration"));
}

TEST_CASE("Column ranges with ... expand to every name", "[unit][manifest]") {
  LoadResult r =
      Load(Root("data:\n  preprocessing:\n    - normalize:\n        columns: [pixel_0, "
                "pixel_1, ..., pixel_783]\n"));
  REQUIRE(r.ok());
  const auto& cols = *r.manifest->data.preprocessing[0].normalize->columns;
  REQUIRE(cols.size() == 784);
  CHECK(cols[0] == "pixel_0");
  CHECK(cols[2] == "pixel_2");
  CHECK(cols[783] == "pixel_783");
}

TEST_CASE("Layer shorthands and bare kinds are read", "[unit][manifest]") {
  LoadResult r =
      Load(Root("model:\n  architecture:\n    type: sequential\n    layers:\n"
                "      - linear: {in_features: 4, out_features: 8}\n"
                "      - activation: gelu\n      - dropout: 0.25\n      - flatten\n"
                "      - linear: {in_features: 8, out_features: 3, bias: false}\n"));
  REQUIRE(r.ok());
  const auto& layers = r.manifest->model.architecture->layers;
  REQUIRE(layers.size() == 5);
  CHECK(layers[1].activation->type == "gelu");
  CHECK(layers[2].dropout->p == 0.25);
  CHECK(layers[3].flatten);
  CHECK_FALSE(layers[4].linear->bias);
}

TEST_CASE("Aliases are normalised to the canonical spelling", "[unit][manifest]") {
  LoadResult r =
      Load(Root("model:\n  dtype: bf16\ntraining:\n  mixed_precision:\n    enabled: true\n"
                "    dtype: fp16\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->model.dtype == "bfloat16");
  CHECK(r.manifest->training.mixed_precision.dtype == "float16");
}

TEST_CASE("All errors are collected in one pass, sorted by line", "[unit][manifest]") {
  LoadResult r =
      Load(Root("optimizer:\n  lr: -1\n  nmae: adam\ntraining:\n  epochs: 0\n"
                "data:\n  loader:\n    batch_size: 0\n"));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 4);
  CHECK(r.diagnostics[0].path == "optimizer.lr");
  CHECK(r.diagnostics[1].path == "optimizer.nmae");
  CHECK(r.diagnostics[1].hints[0] == "did you mean `name`?");
  CHECK(r.diagnostics[2].path == "training.epochs");
  CHECK(r.diagnostics[3].path == "data.loader.batch_size");
  CHECK(r.diagnostics[3].location.line == 11);
}

TEST_CASE("Diagnostics are formatted as FILE:LINE:COL: error: PATH: message", "[unit][manifest]") {
  LoadResult r = Load(Root("optimizer:\n  lr: 0\n"));
  REQUIRE_FALSE(r.ok());
  CHECK(FormatDiagnostic(r.diagnostics[0]) ==
        "t.yaml:5:7: error: optimizer.lr: expected a number > 0, found 0\n"
        "  hint: `lr`: Learning rate.");
  Diagnostic with_hint{Severity::kWarning, "a.b", Location{"f", 2, 3}, "m", {"h1", "h2"}};
  CHECK(FormatDiagnostic(with_hint) == "f:2:3: warning: a.b: m\n  hint: h1\n  hint: h2");
}

TEST_CASE("Warnings leave a manifest valid", "[unit][manifest]") {
  LoadResult r = Load(Root("optimizer:\n  name: adamw\n  momentum: 0.9\n"));
  REQUIRE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].severity == Severity::kWarning);
  CHECK(r.diagnostics[0].message.find("not used by adamw") != std::string::npos);
}

// The paths of the warnings a valid manifest with `body` gets.
std::vector<std::string> WarningPaths(const std::string& body) {
  LoadResult r = Load(Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  std::vector<std::string> paths;
  for (const auto& d : r.diagnostics) {
    if (d.severity == Severity::kWarning) paths.push_back(d.path);
  }
  return paths;
}

TEST_CASE(
    "Keys read only by other choices say so: a schedule's, a model.format without a source, "
    "the builtin tracking store",
    "[unit][manifest]") {
  CHECK(WarningPaths("scheduler:\n  name: cosine\n  mode: max\n  anneal_strategy: linear\n"
                     "  T_max: 10\n  step_size: 3\n") ==
        std::vector<std::string>{"scheduler.mode", "scheduler.anneal_strategy",
                                 "scheduler.step_size"});  // in the file's order
  CHECK(WarningPaths("scheduler:\n  name: one_cycle\n  max_lr: 0.1\n  anneal_strategy: linear\n")
            .empty());
  CHECK(WarningPaths("scheduler:\n  name: step\n  step_size: 3\n  gamma: 0.5\n").empty());
  // Under a time budget T_max is the run's length in steps, whatever the schedule.
  CHECK(WarningPaths("training:\n  duration: 2h\nscheduler:\n  name: step\n  step_size: 3\n"
                     "  T_max: 100\n")
            .empty());
  // Written at their defaults (a resolved manifest writes every key), they say nothing.
  CHECK(WarningPaths("scheduler:\n  name: cosine\n  mode: min\n  pct_start: 0.3\n").empty());
  CHECK(WarningPaths("model:\n  format: safetensors\n") ==
        std::vector<std::string>{"model.format"});
  CHECK(WarningPaths("model:\n  source: m.safetensors\n  format: safetensors\n").empty());
  CHECK(WarningPaths("monitoring:\n  tracking: {enabled: true}\n") ==
        std::vector<std::string>{"monitoring.tracking.enabled"});
  CHECK(WarningPaths("monitoring:\n  tracking: {enabled: true, backend: trueno-db}\n") ==
        std::vector<std::string>{"monitoring.tracking.backend"});
  CHECK(WarningPaths("monitoring:\n  tracking: {enabled: true, backend: tensorboard}\n").empty());
}

TEST_CASE(
    "Keys set inside a section that is not enabled say, once per section, that they do nothing",
    "[unit][manifest]") {
  LoadResult r =
      Load(Root("lora:\n  enabled: false\n  rank: 8\n  bias: all\n"
                "  target_modules: [q_proj]\n  alpha: 32\n"
                "training:\n  early_stopping: {mode: max}\n"));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].severity == Severity::kWarning);
  // alpha: 32 is its default: written, it changes nothing and is not named.
  CHECK(
      r.diagnostics[0].message ==
      "`lora.bias`, `lora.rank`, `lora.target_modules` have no effect while lora.enabled is false");
  CHECK(r.diagnostics[0].hints == std::vector<std::string>{"set lora.enabled: true to use them"});
  CHECK(r.diagnostics[1].message ==
        "`training.early_stopping.mode` has no effect while "
        "training.early_stopping.enabled is false");
  // Enabled, or left at the defaults, nothing is said.
  const LoadResult on = Load(Root("training:\n  early_stopping: {enabled: true, mode: max}\n"));
  REQUIRE(on.ok());
  CHECK(on.diagnostics.empty());
}

TEST_CASE(
    "Keys that would change nothing say so: bfloat16's loss_scale, early stopping with "
    "one validation",
    "[unit][manifest]") {
  const std::string mp = "training:\n  mixed_precision:\n    enabled: true\n";
  CHECK(WarningPaths(mp + "    dtype: bfloat16\n    loss_scale: 1024\n") ==
        std::vector<std::string>{"training.mixed_precision.loss_scale"});
  const std::string cuda = "model:\n  device: cuda\n";
  CHECK(WarningPaths(cuda + mp + "    dtype: float16\n    loss_scale: 1024\n").empty());
  // float16 needs CUDA: with device auto validate warns (training refuses it without CUDA),
  // with device cpu it is an error.
  CHECK(WarningPaths(mp + "    dtype: float16\n") ==
        std::vector<std::string>{"training.mixed_precision.dtype"});
  const LoadResult cpu = Load(Root("model:\n  device: cpu\n  dtype: float16\n"));
  CHECK_FALSE(cpu.ok());
  REQUIRE_FALSE(cpu.diagnostics.empty());
  CHECK(cpu.diagnostics[0].path == "model.dtype");
  CHECK(cpu.diagnostics[0].message.find("float16 needs a CUDA device") != std::string::npos);
  CHECK(WarningPaths(mp + "    dtype: bfloat16\n").empty());
  const std::string once = "training:\n  validation: {every_epoch: false}\n";
  CHECK(WarningPaths(once + "  early_stopping: {enabled: true, metric: val_loss}\n") ==
        std::vector<std::string>{"training.early_stopping"});
  CHECK(WarningPaths("training:\n  validation: {every: 5, every_epoch: false}\n"
                     "  early_stopping: {enabled: true, metric: val_loss}\n")
            .empty());
  CHECK(WarningPaths(once).empty());
}

TEST_CASE("Keys explicitly written are tracked with their location", "[unit][manifest]") {
  LoadResult r = Load(Root("training:\n  epochs: 3\n"));
  REQUIRE(r.ok());
  CHECK(r.manifest->IsSet("training.epochs"));
  CHECK_FALSE(r.manifest->IsSet("training.max_steps"));
  CHECK(r.manifest->LocationOf("training.epochs").line == 5);
  CHECK(r.manifest->LocationOf("training.gradient.clip_norm").line == 4);  // nearest parent
}

TEST_CASE("The resolved manifest round-trips through YAML", "[unit][manifest]") {
  LoadResult r =
      Load(Root("seed: 7\noptimizer:\n  lr: 3e-4\n  betas: [0.9, 0.95]\n"
                "model:\n  architecture:\n    type: sequential\n    layers:\n"
                "      - linear: {in_features: 2, out_features: 2}\n"
                "monitoring:\n  tracking:\n    tags: {team: \"vision\", n: \"1\"}\n"));
  REQUIRE(r.ok());
  const std::string yaml = ToYaml(*r.manifest);
  LoadResult again = Load(yaml);
  INFO(yaml);
  REQUIRE(again.ok());
  CHECK(ToYaml(*again.manifest) == yaml);
  CHECK(again.manifest->optimizer.lr == 3e-4);
  CHECK(again.manifest->monitoring.tracking.tags.at("n") == "1");
}

TEST_CASE("Legacy TrainSpec files are rejected as not entrenar 1.0", "[unit][manifest]") {
  LoadResult r = Load("model:\n  path: model.gguf\ndata:\n  train: t.parquet\n  batch_size: 8\n");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message.find("not an entrenar 1.0 manifest") != std::string::npos);
  CHECK(r.diagnostics[0].hints[0].find("TrainSpec") != std::string::npos);
}

TEST_CASE("Empty, non-mapping and multi-document files get one clear error", "[unit][manifest]") {
  CHECK(Load("").diagnostics[0].message == "the manifest is empty");
  CHECK(Load("- a\n- b\n").diagnostics[0].message.find("a mapping of keys") != std::string::npos);
  LoadResult multi = Load(Root() + "---\n" + Root());
  REQUIRE_FALSE(multi.ok());
  CHECK(multi.diagnostics[0].message.find("one YAML document") != std::string::npos);
  CHECK(multi.diagnostics[0].message.find("found 2") != std::string::npos);
}

TEST_CASE("A stray comma or bracket is a syntax error, not an endless loop", "[unit][manifest]") {
  // yaml-cpp 0.7's LoadAll looped forever on these, allocating: 188 bytes took 68 s and 23 GB
  // (found by tests/fuzz/manifest_fuzz.cc; the input is in its regressions).
  for (const std::string text : {",\n", "a: 1\n]\n", "# x\n, 0.2]\n    - b:\n        c: 0.1\n"}) {
    INFO(text);
    const LoadResult r = Load(text);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK_THAT(r.diagnostics[0].message, Catch::StartsWith("not valid YAML: "));
  }
  const LoadResult r = Load("# x\n, 0.2]\n");
  CHECK(r.diagnostics[0].message == "not valid YAML: `,` where a value was expected");
  CHECK(r.diagnostics[0].location.line == 2);
  CHECK(r.diagnostics[0].location.column == 1);
}

TEST_CASE("A run's manifest as it ran: absolute local paths, its own directory, no report unasked",
          "[unit][manifest]") {
  const LoadResult r =
      Load(Root("data:\n  source: ./data/x.csv\n  target: y\n"
                "  test: s3://bucket/test.csv\n"
                "model:\n  source: ../models/m\n"));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  const Manifest ran = AsRun(*r.manifest, "/home/u/project", "/runs/r1");
  CHECK(ran.data.source == "/home/u/project/data/x.csv");
  CHECK(ran.data.test == "s3://bucket/test.csv");  // not a local path
  CHECK(ran.model.source == "/home/u/models/m");
  CHECK(ran.output.dir == "/runs/r1");
  CHECK_FALSE(ran.output.report.enabled);
  CHECK(r.manifest->output.report.enabled);  // the default, had a report been written
  // Loaded again, it is the same manifest.
  const LoadResult again = Load(ToYaml(ran));
  INFO(testing::Describe(again.diagnostics));
  REQUIRE(again.ok());
  CHECK(ToYaml(*again.manifest) == ToYaml(ran));
}

TEST_CASE("Rebased paths name the same files from another directory, and stay relative",
          "[unit][manifest]") {
  const LoadResult r =
      Load(Root("data:\n  source: ./data/x.csv\n  target: y\n  val: /abs/v.csv\n"
                "  test: s3://bucket/test.csv\n"
                "model:\n  source: ../models/m\n"));
  REQUIRE(r.ok());
  // The manifest lies in /home/u/project/ml, the lock goes to /home/u/project/locks.
  const Manifest moved = Rebased(*r.manifest, "/home/u/project/ml", "/home/u/project/locks");
  CHECK(moved.data.source == "../ml/data/x.csv");
  CHECK(moved.data.val == "/abs/v.csv");
  CHECK(moved.data.test == "s3://bucket/test.csv");
  CHECK(moved.model.source == "../models/m");
  // A file:// path is local, and relative as a bare one is.
  const LoadResult uri = Load(Root("model:\n  source: file://models/m\n"));
  REQUIRE(uri.ok());
  CHECK(Rebased(*uri.manifest, "/home/u/project/ml", "/home/u/project/locks").model.source ==
        "file://../ml/models/m");
  CHECK(AsRun(*uri.manifest, "/home/u/project/ml", "/runs/r1").model.source ==
        "file:///home/u/project/ml/models/m");
  // Beside the manifest, nothing changes but the spelling.
  const Manifest same = Rebased(*r.manifest, "/home/u/project/ml", "/home/u/project/ml");
  CHECK(same.data.source == "data/x.csv");
  CHECK(same.model.source == "../models/m");
}

TEST_CASE("ValueJson reads one key of the manifest, defaults included", "[unit][manifest]") {
  const LoadResult r =
      Load(Root("data:\n  source: x.csv\n  target: y\n"
                "callbacks:\n  - type: checkpoint\n    trigger: epoch_end\n"));
  REQUIRE(r.ok());
  CHECK(ValueJson(*r.manifest, "data.augmentation") == "[]");
  CHECK(ValueJson(*r.manifest, "output.model.save_optimizer") == "false");
  CHECK(ValueJson(*r.manifest, "callbacks[0].trigger") == "\"epoch_end\"");
  CHECK(ValueJson(*r.manifest, "callbacks[1].trigger").empty());
  CHECK(ValueJson(*r.manifest, "no.such.key").empty());
}

}  // namespace
}  // namespace entrenar::manifest

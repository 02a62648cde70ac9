#include "entrenar/plan/support.h"

#include <catch2/catch.hpp>

#include "entrenar/base/strings.h"

#include "manifest_helpers.h"

namespace entrenar::plan {
namespace {

std::vector<manifest::Diagnostic> Check(const std::string& body) {
  manifest::LoadResult r = testing::Load(testing::Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  return CheckSupport(*r.manifest);
}

std::vector<std::string> TrainableErrors(const std::string& body) {
  manifest::LoadResult r = testing::Load(testing::Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  std::vector<std::string> paths;
  for (const auto& d : CheckTrainable(*r.manifest)) paths.push_back(d.path);
  return paths;
}

const std::string kModel =
    "model:\n  architecture:\n    type: sequential\n    layers:\n"
    "      - linear: {in_features: 4, out_features: 3}\n";

TEST_CASE("A manifest the engine implements passes the support check", "[unit][engine]") {
  CHECK(Check("data:\n  source: d.csv\n" + kModel +
              "optimizer: {name: sgd, momentum: 0.9}\nscheduler: {name: step, step_size: 5}\n"
              "training:\n  max_steps: 10\n  gradient: {clip_norm: 1.0}\n")
            .empty());
}

TEST_CASE("Unimplemented keys and values stop the run with `not supported yet`", "[unit][engine]") {
  std::vector<manifest::Diagnostic> d =
      Check(kModel +
            "  device: mps\ncallbacks:\n  - {type: lr_monitor, trigger: validation_end}\n"
            "training:\n  validation: {metrics: [accuracy, perplexity]}\n");
  std::vector<std::string> messages;
  for (const auto& x : d) messages.push_back(x.message);
  INFO(Join(messages, "\n"));
  auto has = [&](const std::string& m) {
    return std::find(messages.begin(), messages.end(), m) != messages.end();
  };
  CHECK(has("not supported yet: callbacks[0].trigger: validation_end for lr_monitor"));
  CHECK(has("not supported yet: model.device: mps"));
  CHECK(has("not supported yet: training.validation.metrics: perplexity"));
  CHECK(messages.size() == 3);
  // A switched-off section asks nothing.
  CHECK(Check(kModel + "lora: {enabled: false, rank: 8}\n").empty());
  // No architecture: nothing to load the weights into.
  CHECK(Check("model:\n  source: ./base.safetensors\n")[0].message.find(
            "not supported yet: model") == 0);
}

TEST_CASE("training.distributed: ddp runs while fsdp and deepspeed and bucket views are refused",
          "[unit][plan]") {
  const std::string head = kModel + "training:\n  epochs: 3\n  distributed:\n";
  CHECK(Check(head + "    strategy: ddp\n    world_size: 4\n    find_unused_parameters: true\n")
            .empty());
  std::vector<manifest::Diagnostic> d = Check(head + "    strategy: fsdp\n    world_size: 2\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].path == "training.distributed.strategy");
  CHECK(d[0].message ==
        "not supported yet: training.distributed.strategy: fsdp (sharding optimizer state and "
        "gradients)");
  CHECK(d[0].location.line == 12);
  d = Check(head + "    strategy: deepspeed\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].hints.at(0) == "use ddp, which entrenar runs itself over c10d");
  d = Check(head + "    gradient_as_bucket_view: true\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].path == "training.distributed.gradient_as_bucket_view");
  d = Check(head + "    world_size: 2\n  validation:\n    cross_validation: {folds: 3}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].path == "training.validation.cross_validation");
  CHECK(
      Check(head + "    world_size: 1\n  validation:\n    cross_validation: {folds: 3}\n").empty());
}

TEST_CASE("Keys visit.h marks NotBuilt are refused once, at the shallowest, with its hint",
          "[unit][plan]") {
  const std::vector<manifest::Diagnostic> d =
      Check(kModel +
            "training:\n  epochs: 3\n  distributed:\n    strategy: ddp\n"
            "    world_size: 2\ndata:\n  augmentation:\n    - back_translate: {languages: [de]}\n");
  REQUIRE(d.size() == 1);
  CHECK(d[0].message == "not supported yet: data.augmentation[0].back_translate");
  CHECK_FALSE(d[0].hints.at(0).empty());
  // A list item's keys are matched without their index.
  const std::vector<manifest::Diagnostic> aug =
      Check(kModel +
            "data:\n  augmentation:\n    - random_crop: {size: [4]}\n"
            "    - back_translate: {languages: [de]}\n");
  REQUIRE(aug.size() == 1);
  CHECK(aug[0].path == "data.augmentation[1].back_translate");
  // LoRA on a sequential model adapts its linear layers: a projection name is refused by value.
  const std::vector<manifest::Diagnostic> lora =
      Check(kModel + "lora: {enabled: true, target_modules: [q_proj]}\n");
  REQUIRE(lora.size() == 1);
  CHECK(lora[0].message ==
        "not supported yet: lora.target_modules: `q_proj`, which names no linear layer");
  CHECK(lora[0].hints.at(0).find("(the model's are layers.0)") != std::string::npos);
  CHECK(Check(kModel + "lora: {enabled: true, target_modules: [layers.0]}\n").empty());
  CHECK(Check(kModel + "lora: {enabled: true, target_modules: [\"0\"]}\n").empty());
  CHECK(Check(kModel + "lora: {enabled: true, target_modules: [\"layers.*\"]}\n").empty());
  CHECK(Check(kModel + "lora: {enabled: true, target_modules: [layers.0]}\n"
                       "output: {model: {format: pt}}\n")
            .at(0)
            .path == "output.model.format");
}

TEST_CASE("Text steps augment a language model's tokens, image steps images, neither a table",
          "[unit][plan]") {
  const std::string lm =
      "model:\n  architecture: {type: transformer, hidden_size: 8, num_layers: 1, num_heads: 2, "
      "vocab_size: 16}\ndata:\n  source: t.jsonl\n  preprocessing:\n"
      "    - tokenize: {tokenizer: t.json}\n  augmentation:\n";
  CHECK(Check(lm + "    - random_swap: {probability: 0.1}\n    - random_delete: {probability: "
                   "0.1}\n")
            .empty());
  const auto on_text = Check(lm +
                             "    - random_delete: {probability: 0.1}\n"
                             "    - horizontal_flip: {probability: 0.5}\n");
  REQUIRE(on_text.size() == 1);
  CHECK(on_text[0].path == "data.augmentation[1]");
  CHECK(on_text[0].message == "not supported yet: data.augmentation[1]: an image step on text");
  const auto on_images = Check(kModel +
                               "data:\n  source: ./digits\n  format: images\n  augmentation:\n"
                               "    - random_swap: {probability: 0.1}\n");
  REQUIRE(on_images.size() == 1);
  CHECK(on_images[0].message == "not supported yet: data.augmentation[0]: a text step on images");
  CHECK(on_images[0].hints.at(0).find("language model's tokens") != std::string::npos);
  const auto on_table =
      Check(kModel +
            "data:\n  source: d.csv\n  augmentation:\n    - random_swap: {probability: "
            "0.1}\n");
  REQUIRE(on_table.size() == 1);
  CHECK(on_table[0].message.find("augmenting a table (d.csv)") != std::string::npos);
  // A table fetched from the Hub is a table too.
  const auto remote = Check(kModel +
                            "data:\n  source: hf://datasets/org/name/d.csv\n  augmentation:\n"
                            "    - horizontal_flip: {probability: 0.5}\n");
  CHECK(std::any_of(remote.begin(), remote.end(), [](const manifest::Diagnostic& x) {
    return x.message.find("augmenting a table (hf://datasets/org/name/d.csv)") != std::string::npos;
  }));
}

TEST_CASE("Callbacks run commands, not inline scripts", "[unit][engine]") {
  CHECK(Check(kModel + "callbacks:\n  - {type: gradient_monitor, trigger: step, interval: 10}\n"
                       "  - {type: custom, trigger: epoch_end, command: [python3, hook.py]}\n"
                       "  - {type: sample_predictions, config: {num_samples: 4}}\n")
            .empty());
  const auto script = Check(kModel + "callbacks:\n  - type: custom\n    script: \"save(model)\"\n");
  REQUIRE(script.size() == 1);
  CHECK(script[0].path == "callbacks[0].script");
  CHECK(script[0].hints.at(0).find("command: [python3, hooks/custom.py]") != std::string::npos);
}

TEST_CASE("Model sources load from local safetensors files and entrenar's model.pt",
          "[unit][engine]") {
  CHECK(Check(kModel + "  source: ./w.safetensors\n").empty());
  CHECK(Check(kModel + "  source: ./w.bin\n  format: safetensors\n").empty());
  CHECK(Check(kModel + "  source: ./run/model.pt\n").empty());
  CHECK(Check(kModel + "  source: ./weights\n  format: pt\n").empty());
  // From the Hub a sequential model's weights are one file, fetched when the run starts; other
  // schemes and malformed hf:// references are refused.
  CHECK(Check(kModel + "  source: hf://org/model/w.safetensors\n").empty());
  const auto repo = Check(kModel + "  source: hf://org/model\n");
  REQUIRE(repo.size() == 1);
  CHECK(repo[0].message ==
        "not supported yet: model.source: loading `hf://org/model` (a sequential model's "
        "weights: one file)");
  CHECK(Check(kModel + "  source: s3://bucket/w.safetensors\n").empty());
  // A version in the local registry holds a run's model.safetensors: no file name needed.
  CHECK(Check(kModel + "  source: pacha://models/w:1\n").empty());
  const auto data_set = Check(kModel + "  source: pacha://datasets/w:1\n");
  REQUIRE(data_set.size() == 1);
  CHECK(data_set[0].message ==
        "not supported yet: model.source: pacha://datasets/w:1 is a data set; a model or a "
        "tokenizer comes from pacha://models/NAME:VERSION");
  const auto http = Check(kModel + "  source: http://example.com/w.safetensors\n");
  REQUIRE(http.size() == 1);
  CHECK(http[0].message ==
        "not supported yet: model.source: remote weights (http://example.com/w.safetensors); "
        "hf://, s3:// and pacha:// are fetched, other schemes are not");
  const auto apr = Check(kModel + "  source: ./w.apr\n  format: apr\n");
  REQUIRE(apr.size() == 1);
  CHECK(apr[0].hints.at(0).find("apr is the model format of paiml's aprender") == 0);
  const auto bad = Check(kModel + "  source: hf://org\n");
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].message.find("no repository name") != std::string::npos);
  const auto gguf = Check(kModel + "  source: ./w.gguf\n  format: gguf\n");
  REQUIRE(gguf.size() == 1);
  CHECK(gguf[0].message == "not supported yet: model.format: gguf");
  const auto bin = Check(kModel + "  source: ./w.bin\n");
  REQUIRE(bin.size() == 1);
  CHECK(bin[0].path == "model.source");
}

TEST_CASE("Remote data: hf://, s3:// and pacha:// are fetched, other schemes are refused by name",
          "[unit][plan]") {
  const std::string model =
      "model:\n  architecture:\n    type: sequential\n    layers:\n"
      "      - linear: {in_features: 4, out_features: 2}\n";
  CHECK(Check("data:\n  source: hf://tatsu-lab/alpaca\n" + model).empty());
  CHECK(Check("data:\n  train: hf://datasets/org/name@v1/data/train.parquet\n" + model).empty());
  CHECK(Check("data:\n  train: s3://bucket/train.parquet\n" + model).empty());
  CHECK(Check("data:\n  train: pacha://datasets/iris:1\n" + model).empty());
  const auto pacha = Check("data:\n  train: pacha://models/iris:1\n" + model);
  REQUIRE(pacha.size() == 1);
  CHECK(pacha[0].path == "data.train");
  CHECK(pacha[0].message ==
        "not supported yet: data.train: pacha://models/iris:1 is a model; data comes from "
        "pacha://datasets/NAME:VERSION");
  const auto http = Check("data:\n  train: http://example.com/iris.csv\n" + model);
  REQUIRE(http.size() == 1);
  CHECK(http[0].message ==
        "not supported yet: data.train: remote data (http://example.com/iris.csv); hf://, s3:// "
        "and pacha:// are fetched, other schemes are not");
  // Formats no reader reads are refused by name, with what to use instead.
  const auto arrow = Check("data:\n  source: ./d.arrow\n" + model);
  REQUIRE(arrow.size() == 1);
  CHECK(arrow[0].message == "not supported yet: data.source: reading arrow data (./d.arrow)");
  CHECK(arrow[0].hints.at(0).find("write Parquet instead") != std::string::npos);
  const auto ald = Check("data:\n  source: ./d.ald\n" + model);
  REQUIRE(ald.size() == 1);
  CHECK(ald[0].hints.at(0).find("ald is the data format of paiml's alimentar") == 0);
  const auto bucket = Check("data:\n  train: s3://My_Bucket/train.parquet\n" + model);
  REQUIRE(bucket.size() == 1);
  CHECK(bucket[0].message.find("a bucket name may hold a-z") != std::string::npos);
  const auto bad = Check("data:\n  source: hf://tatsu-lab/alpaca/../x\n" + model);
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].path == "data.source");
  CHECK(bad[0].message.find("a path with an empty, `.` or `..` part") != std::string::npos);
}

TEST_CASE("Every layer kind, lamb, bce, mixed precision and cross-validation pass the check",
          "[unit][engine]") {
  CHECK(Check("model:\n  architecture:\n    type: sequential\n    layers:\n"
              "      - reshape: [1, 8, 8]\n"
              "      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3}\n"
              "      - max_pool2d: {kernel_size: 2}\n      - avg_pool2d: {kernel_size: 1}\n"
              "      - flatten\n      - linear: {in_features: 36, out_features: 2}\n"
              "optimizer: {name: lamb}\n"
              "training:\n  loss: bce\n  mixed_precision: {enabled: true, dtype: bfloat16}\n"
              "  validation:\n    metrics: [accuracy, confusion_matrix]\n"
              "    cross_validation: {folds: 3}\n")
            .empty());
}

TEST_CASE("A run needs data, and a language model its tokenize step (SPEC Appendix B)",
          "[unit][plan]") {
  // Appendix B as written: a Hub model with LoRA, no data. Both gaps are named; the support
  // check has nothing to say (the Hub model is fetched when the run starts), not LoRA "on a
  // model" or a missing architecture.
  const std::string appendix_b =
      "model:\n  source: hf://meta-llama/Llama-2-7b\n"
      "lora: {enabled: true, rank: 16, alpha: 32, target_modules: [q_proj, v_proj]}\n"
      "training: {epochs: 3}\n";
  CHECK(TrainableErrors(appendix_b) == std::vector<std::string>{"data", "data.preprocessing"});
  CHECK(Check(appendix_b).empty());
  // A local model directory with data but no tokenize step: the step is named, not "only
  // .safetensors files load".
  const std::string local = "data: {source: ./corpus.jsonl}\nmodel: {source: ./models/tiny}\n";
  CHECK(TrainableErrors(local) == std::vector<std::string>{"data.preprocessing"});
  CHECK(Check(local).empty());
  CHECK(TrainableErrors(local + "lora: {enabled: true, target_modules: [q_proj]}\n") ==
        std::vector<std::string>{"data.preprocessing"});
  // A table model needs data only.
  CHECK(TrainableErrors(kModel) == std::vector<std::string>{"data"});
  CHECK(TrainableErrors("data:\n  source: d.csv\n" + kModel).empty());
  CHECK(TrainableErrors("data: {train: a.csv, val: b.csv}\n" + kModel).empty());
  CHECK(TrainableErrors("data:\n  source: d.jsonl\n  preprocessing:\n"
                        "    - tokenize: {tokenizer: t.json}\nmodel: {source: ./models/tiny}\n")
            .empty());
}

TEST_CASE("Freeze and parameter-group globs must name a sequential model's parameters",
          "[unit][engine]") {
  const std::string data = "data:\n  source: d.csv\n";
  const std::string two =
      "model:\n  architecture:\n    type: sequential\n    layers:\n"
      "      - linear: {in_features: 4, out_features: 8}\n      - activation: relu\n"
      "      - linear: {in_features: 8, out_features: 3}\n";
  CHECK(TrainableErrors(data + two +
                        "optimizer:\n  name: adam\n  param_groups: [{params: 'layers.2*'}]\n")
            .empty());
  CHECK(TrainableErrors(
            data + two +
            "optimizer:\n  name: adam\n  param_groups: [{params: 'model.encoder.*'}]\n") ==
        std::vector<std::string>{"optimizer.param_groups[0].params"});
  // A group whose parameters an earlier group took is empty, as the engine builds it.
  CHECK(TrainableErrors(data + two +
                        "optimizer:\n  name: adam\n  param_groups: [{params: 'layers.*'}, "
                        "{params: 'layers.0'}]\n") ==
        std::vector<std::string>{"optimizer.param_groups[1].params"});
  CHECK(TrainableErrors(data + two + "  freeze: ['layers.1']\n") ==
        std::vector<std::string>{"model.freeze[0]"});
  CHECK(TrainableErrors(data + two + "  freeze: ['layers.*']\n") ==
        std::vector<std::string>{"model.freeze"});
  // A frozen parameter joins no group.
  CHECK(TrainableErrors(data + two + "  freeze: ['layers.0']\n" +
                        "optimizer:\n  name: adam\n  param_groups: [{params: 'layers.0.*'}]\n") ==
        std::vector<std::string>{"optimizer.param_groups[0].params"});
}

}  // namespace
}  // namespace entrenar::plan

// `entrenar train` end to end for language models: a tiny LLaMA-style model on the example
// instruction corpus, from scratch and with LoRA / QLoRA, checked by an independent numpy reader.
#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::EntrenarBinary;
using entrenar::testing::LossByStep;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;
using entrenar::testing::WriteFile;
using nlohmann::json;

const std::string kSource = ENTRENAR_SOURCE_DIR;
const std::string kBase = kSource + "/examples/instruct.yaml";
const std::string kLora = kSource + "/examples/instruct_lora.yaml";

// The example's model, smaller: hidden 64, 2 layers, 4 query and 2 key/value heads.
const std::vector<std::string> kTiny = {"--set", "model.architecture.hidden_size=64"};

std::vector<std::string> Args(const std::string& manifest, const std::string& out,
                              std::vector<std::string> sets) {
  std::vector<std::string> a = {manifest, "--output", out};
  for (const std::string& s : sets) a.insert(a.end(), {"--set", s});
  return a;
}

// Trains the tiny base model for `epochs` into `out`.
void TrainBase(const std::string& out, int epochs) {
  std::vector<std::string> a =
      Args(kBase, out, {"training.epochs=" + std::to_string(epochs), "callbacks=[]"});
  a.insert(a.end(), kTiny.begin(), kTiny.end());
  ProcessResult r = Train(a);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

double Mean(const std::map<std::int64_t, double>& loss, bool first, std::size_t n) {
  double sum = 0;
  std::size_t i = 0;
  if (first) {
    for (auto it = loss.begin(); it != loss.end() && i < n; ++it, ++i) sum += it->second;
  } else {
    for (auto it = loss.rbegin(); it != loss.rend() && i < n; ++it, ++i) sum += it->second;
  }
  return sum / static_cast<double>(i);
}

json Evaluate(const std::string& manifest, const std::vector<std::string>& sets) {
  std::vector<std::string> a = {manifest, "--evaluate"};
  for (const std::string& s : sets) a.insert(a.end(), {"--set", s});
  ProcessResult r = Train(a);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

TEST_CASE(
    "train: a tiny LLaMA learns the instruction corpus and is saved as a Hugging Face "
    "directory",
    "[e2e][slow]") {
  TempDir dir;
  const std::string run = dir.path + "/base";
  std::vector<std::string> a = Args(kBase, run, {"training.epochs=3"});
  a.insert(a.end(), kTiny.begin(), kTiny.end());
  ProcessResult r = Train(a);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("instruction records, loss on the answers") != std::string::npos);
  const auto loss = LossByStep(run + "/metrics.jsonl");
  REQUIRE(loss.size() == 87);  // 456 training records in batches of 16, 3 epochs
  CHECK(Mean(loss, false, 5) < Mean(loss, true, 5) - 1.0);
  const json summary = json::parse(Slurp(run + "/summary.json"));
  const double val_loss = summary["val"]["val_loss"];
  CHECK(summary["val"]["val_perplexity"].get<double>() == Approx(std::exp(val_loss)));
  CHECK(summary["model_files"] == json({"config.json", "tokenizer.json", "model.safetensors"}));
  const json config = json::parse(Slurp(run + "/config.json"));
  CHECK(config["model_type"] == "llama");
  CHECK(config["hidden_size"] == 64);
  CHECK(config["num_key_value_heads"] == 2);
  CHECK(Slurp(run + "/tokenizer.json") ==
        Slurp(kSource + "/examples/data/instruct_tokenizer.json"));
  // sample_predictions generated text for validation prompts.
  const json samples = json::parse(Slurp(run + "/samples.jsonl"));
  REQUIRE(samples["samples"].size() == 3);
  for (const json& s : samples["samples"]) {
    const std::string prompt = s["prompt"];
    CHECK(prompt.substr(prompt.size() - 14) == "### Response:\n");
    CHECK_FALSE(s["reference"].get<std::string>().empty());
    CHECK(s.contains("generated"));
  }
  // The saved directory loads as model.source and evaluates to the best validation loss.
  const json eval = Evaluate(kBase, {"model.source=" + run, "model.architecture.hidden_size=64"});
  CHECK(eval["val_loss"].get<double>() ==
        Approx(summary["best"]["value"].get<double>()).epsilon(1e-9));
}

TEST_CASE("train: LoRA trains only the adapters, which reload to the same validation loss",
          "[e2e][slow]") {
  TempDir dir;
  const std::string base = dir.path + "/base";
  TrainBase(base, 3);
  const std::string run = dir.path + "/lora";
  const std::vector<std::string> sets = {"model.source=" + base, "training.epochs=3",
                                         "optimizer.lr=5e-3"};

  // --dry-run counts the adapters: rank 8 × (in + out) of each of 7 projections in 2 layers.
  std::vector<std::string> plan_args = Args(kLora, run, sets);
  plan_args.push_back("--dry-run");
  ProcessResult plan = Train(plan_args);
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  const std::int64_t h = 64, kv = 32, mlp = 192, vocab = 657, r = 8, layers = 2;
  const std::int64_t adapters = layers * r * ((h + h) * 2 + (h + kv) * 2 + (h + mlp) * 3);
  const std::int64_t base_params =
      vocab * h * 2 + h + layers * (h * h * 2 + h * kv * 2 + h * mlp * 3 + 2 * h);
  CHECK(plan.out.find("parameters:   " + std::to_string(adapters) + " trainable, " +
                      std::to_string(base_params) + " frozen") != std::string::npos);
  CHECK(plan.out.find("lora:         rank 8 on 14 projections") != std::string::npos);

  // The base has instruct.yaml's 256 positions: longer sequences are refused, not trained.
  std::vector<std::string> longer = sets;
  longer.push_back("data.preprocessing[0].tokenize.max_length=512");
  ProcessResult too_long = Train(Args(kLora, dir.path + "/too-long", longer));
  CHECK(too_long.exit_code == 1);
  CHECK(too_long.err.find("tokenize.max_length (512) is longer than the model's 256 positions") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/too-long/summary.json"));

  ProcessResult t = Train(Args(kLora, run, sets));
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  // The adapters lower the validation loss of the base model.
  const double base_loss = json::parse(Slurp(base + "/summary.json"))["best"]["value"];
  const json summary = json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["best"]["value"].get<double>() < base_loss - 0.04);
  CHECK(summary["model_files"] ==
        json({"config.json", "tokenizer.json", "adapter_model.safetensors", "adapter_config.json",
              "model.safetensors"}));
  CHECK(summary["parameters"] == base_params);

  // numpy: the base is untouched, each projection is base + alpha/r·B·A, every B learned.
  ProcessResult check =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/lora_check.py", base, run});
  INFO(check.err);
  REQUIRE(check.exit_code == 0);
  const json c = json::parse(check.out);
  CHECK(c["adapted"] == 14);
  CHECK(c["nonzero_b"] == 14);
  CHECK(c["max_error"].get<double>() < 1e-5);
  const json config = json::parse(Slurp(run + "/adapter_config.json"));
  CHECK(config["base_model_name_or_path"] == fs::absolute(base).lexically_normal().string());

  // The adapter directory reloads (base + adapters) to the run's best validation loss; the
  // merged model agrees within float tolerance.
  const double best = summary["best"]["value"];
  const json adapter_eval = Evaluate(kLora, {"model.source=" + run});
  CHECK(adapter_eval["val_loss"].get<double>() == Approx(best).epsilon(1e-9));
  const json merged_eval = Evaluate(kLora, {"model.source=" + run, "lora.enabled=false"});
  CHECK(merged_eval["val_loss"].get<double>() == Approx(best).epsilon(1e-5));

  // Training continues from the adapter; settings that contradict it are refused.
  ProcessResult clash =
      Train(Args(kLora, dir.path + "/clash", {"model.source=" + run, "lora.rank=4"}));
  CHECK(clash.exit_code != 0);
  CHECK(clash.err.find("lora.rank differs from " + run + "/adapter_config.json") !=
        std::string::npos);
}

TEST_CASE("train: QLoRA keeps the base 4-bit from the manifest and still learns", "[e2e][slow]") {
  TempDir dir;
  const std::string base = dir.path + "/base";
  TrainBase(base, 3);
  const std::string run = dir.path + "/qlora";
  ProcessResult t = Train(Args(
      kLora, run,
      {"model.source=" + base, "training.epochs=3", "optimizer.lr=5e-3", "lora.quantize_base=true",
       "lora.double_quantize=true", "output.model.merge_lora=false"}));
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  std::smatch match;
  const std::regex bytes(R"(base weights nf4 4-bit \((\d+) bytes, float32 (\d+)\))");
  REQUIRE(std::regex_search(t.err, match, bytes));
  const double ratio = std::stod(match[1]) / std::stod(match[2]);
  CHECK(ratio < 0.3);
  CHECK(ratio > 0.125);  // 4 bits are an eighth of float32; the block constants add some
  const double base_loss = json::parse(Slurp(base + "/summary.json"))["best"]["value"];
  const json summary = json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["best"]["value"].get<double>() < base_loss - 0.04);
  CHECK_FALSE(fs::exists(run + "/model.safetensors"));
  // Reloaded, the base is quantized the same way: the same validation loss.
  const json eval = Evaluate(
      kLora, {"model.source=" + run, "lora.quantize_base=true", "lora.double_quantize=true"});
  CHECK(eval["val_loss"].get<double>() ==
        Approx(summary["best"]["value"].get<double>()).epsilon(1e-9));
}

TEST_CASE("train: language-model mistakes are named before training", "[e2e]") {
  TempDir dir;
  auto run = [&](const std::string& manifest, const std::vector<std::string>& sets) {
    return Train(Args(manifest, dir.path + "/run", sets));
  };
  ProcessResult no_text = run(kBase, {"data.preprocessing=[]", "data.target=output"});
  CHECK(no_text.exit_code == 1);  // cannot train at all (plan::CheckTrainable), as validate says
  CHECK(no_text.err.find("error: data.preprocessing: a language model trains on tokenized text, "
                         "and there is no tokenize step") != std::string::npos);
  ProcessResult vocab = run(kBase, {"model.architecture.vocab_size=100"});
  CHECK(vocab.exit_code != 0);
  CHECK(vocab.err.find("the tokenizer has 657 tokens but the model's vocab_size is 100") !=
        std::string::npos);
  ProcessResult no_config = run(kLora, {"model.source=" + dir.path});
  CHECK(no_config.exit_code != 0);
  CHECK(no_config.err.find("has no config.json") != std::string::npos);
  ProcessResult tmpl = run(kBase, {"data.preprocessing[0].tokenize.template='Q: {question}'"});
  CHECK(tmpl.exit_code != 0);
  CHECK(tmpl.err.find("`{question}` names no field of the records") != std::string::npos);
  // validate's own checks: positions too few for max_length, a tokenizer on the Hub.
  ProcessResult positions = run(kBase, {"model.architecture.max_seq_length=64"});
  CHECK(positions.exit_code == 1);
  CHECK(positions.err.find("data.preprocessing[0].tokenize.max_length: sequences of up to 128 "
                           "tokens do not fit the model's model.architecture.max_seq_length of "
                           "64") != std::string::npos);
  // A tokenizer from a scheme that is not fetched, or from a data set in the registry (hf://,
  // s3:// and pacha:// are fetched: tests/e2e/data_sources_test.cc).
  ProcessResult remote =
      run(kBase, {"data.preprocessing[0].tokenize.tokenizer=http://example.com/tok.json"});
  CHECK(remote.exit_code == 3);
  CHECK(remote.err.find("not supported yet: data.preprocessing[0].tokenize.tokenizer: remote "
                        "tokenizers (http://example.com/tok.json); hf://, s3:// and pacha:// are "
                        "fetched, other schemes are not") != std::string::npos);
  ProcessResult data_set =
      run(kBase, {"data.preprocessing[0].tokenize.tokenizer=pacha://datasets/tok:1"});
  CHECK(data_set.exit_code == 3);
  CHECK(data_set.err.find("pacha://datasets/tok:1 is a data set; a model or a tokenizer comes "
                          "from pacha://models/NAME:VERSION") != std::string::npos);
  CHECK(remote.err.find("no such file") == std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/run/summary.json"));
}

}  // namespace

TEST_CASE("train --resume of a LoRA run continues exactly from its adapter checkpoint",
          "[e2e][slow]") {
  TempDir dir;
  const std::string base = dir.path + "/base";
  TrainBase(base, 1);
  const std::vector<std::string> sets = {"model.source=" + base, "training.epochs=2",
                                         "training.checkpoint.save_every=20", "callbacks=[]"};
  ProcessResult a = Train(Args(kLora, dir.path + "/a", sets));
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  // A checkpoint of a LoRA run holds the adapters, not the base.
  const std::string checkpoint = dir.path + "/a/checkpoints/step-40";
  ProcessResult names =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read",
                  checkpoint + "/model.safetensors"});
  REQUIRE(names.exit_code == 0);
  const json tensors = json::parse(names.out);
  CHECK(tensors.size() == 1 + 28);  // metadata and A, B of 14 projections
  for (const auto& [name, t] : tensors.items()) {
    CHECK((name == "__metadata__" || name.find(".lora_") != std::string::npos));
  }
  std::vector<std::string> resume = Args(kLora, dir.path + "/b", sets);
  resume.insert(resume.end(), {"--resume", checkpoint});
  ProcessResult b = Train(resume);
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  const auto la = LossByStep(dir.path + "/a/metrics.jsonl");
  const auto lb = LossByStep(dir.path + "/b/metrics.jsonl");
  REQUIRE(lb.size() == 18);  // steps 41..58
  for (const auto& [step, loss] : lb) CHECK(loss == la.at(step));
  CHECK(json::parse(Slurp(dir.path + "/a/summary.json"))["val"] ==
        json::parse(Slurp(dir.path + "/b/summary.json"))["val"]);
}

TEST_CASE("train: output.model.format gguf also writes model.gguf, read by @huggingface/gguf",
          "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/lora";
  const std::string base = dir.path + "/base";
  TrainBase(base, 1);
  ProcessResult t =
      Train(Args(kLora, run,
                 {"model.source=" + base, "training.max_steps=3", "training.epochs=null",
                  "output.model.format=gguf", "callbacks=[]"}));
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  const json summary = json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["model_files"].back() == "model.safetensors");
  CHECK(std::find(summary["model_files"].begin(), summary["model_files"].end(), "model.gguf") !=
        summary["model_files"].end());
  ProcessResult node = RunProcess(
      {"/usr/bin/env", "node", kSource + "/tests/formats/gguf_read.mjs", run + "/model.gguf"});
  INFO(node.err);
  REQUIRE(node.exit_code == 0);
  const json g = json::parse(node.out);
  const json& meta = g["metadata"];
  CHECK(meta["general.architecture"] == "llama");
  CHECK(meta["general.name"] == "instruct-tiny-lora");
  CHECK(meta["llama.block_count"] == 2);
  CHECK(meta["llama.embedding_length"] == 64);
  CHECK(meta["llama.attention.head_count_kv"] == 2);
  CHECK(meta["tokenizer.ggml.model"] == "gpt2");
  const json tokenizer = json::parse(Slurp(kSource + "/examples/data/instruct_tokenizer.json"));
  REQUIRE(meta["tokenizer.ggml.tokens"].size() == 657);
  for (const auto& [token, id] : tokenizer["model"]["vocab"].items()) {
    CHECK(meta["tokenizer.ggml.tokens"][id.get<std::size_t>()] == token);
  }
  CHECK(meta["tokenizer.ggml.tokens"][656] == "<|endoftext|>");
  CHECK(meta["tokenizer.ggml.eos_token_id"] == 656);
  CHECK(meta["tokenizer.ggml.merges"] == tokenizer["model"]["merges"]);
  // 2 layers × 9 tensors, the embedding, the final norm and the output head; LoRA merged in.
  REQUIRE(g["tensors"].size() == 21);
  for (const json& tensor : g["tensors"]) {
    const std::string name = tensor["name"];
    CHECK(name.find("lora") == std::string::npos);
    CHECK(tensor["dtype"] == 0);  // F32
  }
  CHECK(g["tensors"][0]["name"] == "token_embd.weight");
  CHECK(g["tensors"][0]["shape"] == json({64, 657}));  // ggml order: innermost first
}

TEST_CASE("train: a SentencePiece tokenizer.model tokenizes the corpus, and is exported to GGUF",
          "[e2e][slow]") {
  TempDir dir;
  ProcessResult spm =
      RunProcess({"/usr/bin/spm_train", "--input=" + kSource + "/examples/data/instruct.jsonl",
                  "--model_prefix=" + dir.path + "/sp", "--vocab_size=500", "--model_type=bpe",
                  "--byte_fallback=true", "--character_coverage=1.0", "--minloglevel=2",
                  "--normalization_rule_name=identity"});
  REQUIRE(spm.exit_code == 0);
  const std::string run = dir.path + "/run";
  std::vector<std::string> a = Args(
      kBase, run,
      {"data.preprocessing[0].tokenize.tokenizer=" + dir.path + "/sp.model",
       "model.architecture.vocab_size=500", "training.epochs=2", "output.model.format=gguf",
       "data.preprocessing[0].tokenize.max_length=512", "model.architecture.max_seq_length=512"});
  a.insert(a.end(), kTiny.begin(), kTiny.end());
  ProcessResult t = Train(a);
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  const auto loss = LossByStep(run + "/metrics.jsonl");
  CHECK(Mean(loss, false, 5) < Mean(loss, true, 5) - 1.0);
  CHECK(Slurp(run + "/tokenizer.model") == Slurp(dir.path + "/sp.model"));
  CHECK_FALSE(fs::exists(run + "/tokenizer.json"));
  // Generations decode through SentencePiece.
  const json samples = json::parse(Slurp(run + "/samples.jsonl"));
  CHECK(samples["samples"][0]["prompt"].get<std::string>().rfind("Below is an instruction", 0) ==
        0);
  ProcessResult node = RunProcess(
      {"/usr/bin/env", "node", kSource + "/tests/formats/gguf_read.mjs", run + "/model.gguf"});
  REQUIRE(node.exit_code == 0);
  const json meta = json::parse(node.out)["metadata"];
  CHECK(meta["tokenizer.ggml.model"] == "llama");
  CHECK(meta["tokenizer.ggml.tokens"].size() == 500);
  CHECK(meta["tokenizer.ggml.scores"].size() == 500);
  CHECK(meta["tokenizer.ggml.tokens"][1] == "<s>");
  CHECK(meta["tokenizer.ggml.bos_token_id"] == 1);
  CHECK(meta["tokenizer.ggml.eos_token_id"] == 2);
  // The run directory loads again as model.source with its own tokenizer.model.
  const json eval =
      Evaluate(kBase, {"model.source=" + run, "model.architecture.hidden_size=64",
                       "model.architecture.vocab_size=500",
                       "data.preprocessing[0].tokenize.tokenizer=" + run + "/tokenizer.model",
                       "data.preprocessing[0].tokenize.max_length=512",
                       "model.architecture.max_seq_length=512"});
  CHECK(eval["val_loss"].get<double>() ==
        Approx(json::parse(Slurp(run + "/summary.json"))["best"]["value"].get<double>())
            .epsilon(1e-9));
  // So does its model.gguf: the configuration from the metadata, the F32 weights mapped back to
  // their Hugging Face names and rotary layout (the norm epsilon went through float32).
  const json from_gguf =
      Evaluate(kBase, {"model.source=" + run + "/model.gguf", "model.architecture.hidden_size=64",
                       "model.architecture.vocab_size=500",
                       "data.preprocessing[0].tokenize.tokenizer=" + run + "/tokenizer.model",
                       "data.preprocessing[0].tokenize.max_length=512",
                       "model.architecture.max_seq_length=512"});
  CHECK(from_gguf["val_loss"].get<double>() ==
        Approx(eval["val_loss"].get<double>()).epsilon(1e-6));
  // A file that is not a GGUF is named.
  WriteFile(dir.path + "/bad.gguf", "GGUF but not really");
  ProcessResult bad =
      Train(Args(kBase, dir.path + "/bad", {"model.source=" + dir.path + "/bad.gguf"}));
  CHECK(bad.exit_code != 0);
  CHECK(bad.err.find("bad.gguf") != std::string::npos);
}

TEST_CASE("plan and train --dry-run agree on a transformer's size", "[e2e]") {
  ProcessResult plan = RunProcess({entrenar::testing::EntrenarBinary(), "plan", kBase}, "", 60);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("task        causal language model") != std::string::npos);
  CHECK(plan.out.find("target") == std::string::npos);
  ProcessResult dry = Train({kBase, "--dry-run"});
  REQUIRE(dry.exit_code == 0);
  std::smatch trained, planned;
  REQUIRE(std::regex_search(dry.out, trained, std::regex(R"(parameters: +(\d+) trainable)")));
  REQUIRE(std::regex_search(plan.out, planned, std::regex(R"(transformer, ([\d,]+) parameters)")));
  std::string digits = planned[1];
  digits.erase(std::remove(digits.begin(), digits.end(), ','), digits.end());
  CHECK(digits == trained[1].str());
}

TEST_CASE("train: packed windows (padding none) train and validate", "[e2e][slow]") {
  TempDir dir;
  const std::string run = dir.path + "/packed";
  std::vector<std::string> a =
      Args(kBase, run,
           {"training.epochs=2", "callbacks=[]", "data.preprocessing[0].tokenize.padding=none"});
  a.insert(a.end(), kTiny.begin(), kTiny.end());
  ProcessResult t = Train(a);
  INFO(t.err);
  REQUIRE(t.exit_code == 0);
  const auto loss = LossByStep(run + "/metrics.jsonl");
  CHECK(Mean(loss, false, 3) < Mean(loss, true, 3) - 0.5);
  const json summary = json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["val"]["val_perplexity"].get<double>() > 1);
}

TEST_CASE(
    "train: text augmentation is drawn per epoch and row, and resumes mid-epoch bit for bit with "
    "2 workers or none",
    "[e2e][slow]") {
  TempDir dir;
  const std::string augment =
      "data.augmentation=[{random_swap: {probability: 0.2}}, {random_delete: {probability: 0.1}}]";
  const auto args = [&](const std::string& out, std::vector<std::string> sets) {
    for (const char* s : {"training.epochs=null", "training.max_steps=36", "callbacks=[]"})
      sets.push_back(s);
    std::vector<std::string> a = Args(kBase, out, sets);
    a.insert(a.end(), kTiny.begin(), kTiny.end());
    return a;
  };
  const std::string full = dir.path + "/full";
  ProcessResult r = Train(
      args(full, {augment, "training.checkpoint.save_every=33", "data.loader.num_workers=2"}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("augmentation: random_swap 0.2, random_delete 0.1 on the tokens of the "
                   "training records' fields (not the template, not the answers), drawn again "
                   "each epoch") != std::string::npos);
  const ProcessResult plan = RunProcess({EntrenarBinary(), "plan", kBase, "--set", augment});
  CHECK(plan.out.find("  augment     random_swap p=0.2 (each token of the training text or "
                      "records' fields, drawn again each epoch)\n  augment     random_delete "
                      "p=0.1") != std::string::npos);
  const auto reference = LossByStep(full + "/metrics.jsonl");
  REQUIRE(reference.size() == 36);
  // Step 33 is the 4th of the second epoch (29 steps each); the resumed run builds its batches
  // on the training thread.
  const std::string resumed = dir.path + "/resumed";
  std::vector<std::string> a = args(resumed, {augment, "data.loader.num_workers=0"});
  a.insert(a.end(), {"--resume", full + "/checkpoints/step-33"});
  r = Train(a);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto again = LossByStep(resumed + "/metrics.jsonl");
  REQUIRE(again.size() == 3);
  for (const auto& [step, loss] : again) CHECK(loss == reference.at(step));
  // Without the augmentation the batches, and so the losses, differ from the first step on.
  const std::string plain = dir.path + "/plain";
  REQUIRE(Train(args(plain, {"data.loader.num_workers=2"})).exit_code == 0);
  const auto unaugmented = LossByStep(plain + "/metrics.jsonl");
  REQUIRE(unaugmented.size() == 36);
  CHECK(unaugmented.at(1) != reference.at(1));
}

// [slow]: three runs of the tiny model (Release pass only).
TEST_CASE("train: a model output.registry published fine-tunes from pacha://models/",
          "[e2e][slow]") {
  TempDir dir;
  const std::string reg = dir.path + "/registry";
  const auto entrenar = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {"/usr/bin/env", "ENTRENAR_REGISTRY=" + reg, entrenar::testing::EntrenarBinary()});
    return RunProcess(args, "", 240);
  };
  std::vector<std::string> base = {"train"};
  for (const std::string& a :
       Args(kBase, dir.path + "/base",
            {"training.epochs=1", "callbacks=[]", "output.registry.enabled=true",
             "output.registry.target=pacha://models/tiny/llama:0.1"}))
    base.push_back(a);
  base.insert(base.end(), kTiny.begin(), kTiny.end());
  ProcessResult published = entrenar(base);
  INFO(published.err);
  REQUIRE(published.exit_code == 0);
  CHECK(published.out.find("published pacha://models/tiny/llama:0.1") != std::string::npos);
  // The published model evaluates to the run's best validation loss, loaded from the registry
  // (its config, tokenizer and weights), with the tokenizer from the registry too.
  const json summary = json::parse(Slurp(dir.path + "/base/summary.json"));
  std::vector<std::string> eval = {
      "train",
      kBase,
      "--evaluate",
      "--set",
      "model.source=pacha://models/tiny/llama:0.1",
      "--set",
      "data.preprocessing[0].tokenize.tokenizer=pacha://models/tiny/llama:0.1"};
  eval.insert(eval.end(), kTiny.begin(), kTiny.end());
  ProcessResult evaluated = entrenar(eval);
  INFO(evaluated.err);
  REQUIRE(evaluated.exit_code == 0);
  CHECK(json::parse(evaluated.out)["val_loss"].get<double>() ==
        Approx(summary["best"]["value"].get<double>()).epsilon(1e-9));
  // ... and fine-tunes with LoRA from there.
  std::vector<std::string> lora = {"train"};
  for (const std::string& a :
       Args(kLora, dir.path + "/lora",
            {"training.epochs=1", "callbacks=[]", "model.source=pacha://models/tiny/llama:0.1"}))
    lora.push_back(a);
  ProcessResult tuned = entrenar(lora);
  INFO(tuned.err);
  CHECK(tuned.exit_code == 0);
  CHECK(tuned.err.find("model.source: pacha://models/tiny/llama:0.1, at " + reg +
                       "/snapshots/models/tiny/llama@0.1") != std::string::npos);
}

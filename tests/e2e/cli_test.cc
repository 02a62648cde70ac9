// Drives the real `entrenar` binary: exit codes, the diagnostic format, JSON output, init,
// lock --strict, plan and schema.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;

const std::string kSource = ENTRENAR_SOURCE_DIR;

std::string Binary() {
  const char* b = std::getenv("ENTRENAR_BINARY");
  REQUIRE(b != nullptr);
  return b;
}

ProcessResult Entrenar(std::vector<std::string> args, const std::string& input = "",
                       const std::string& cwd = "") {
  args.insert(args.begin(), Binary());
  return RunProcess(args, input, 60, cwd);
}

using entrenar::testing::TempDir;
using entrenar::testing::WriteFile;

const char* kInvalid =
    "entrenar: \"1.0\"\nname: t\nversion: \"1\"\noptimizer:\n  lr: -1\n  nam: adam\n";

TEST_CASE("validate accepts the digits example and prints the checklist", "[e2e]") {
  ProcessResult r = Entrenar({"validate", kSource + "/examples/digits.yaml"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("✓ Schema version: 1.0") != std::string::npos);
  CHECK(r.out.find("✓ Cross-field dependencies valid") != std::string::npos);
  CHECK(r.out.find("Configuration is valid.") != std::string::npos);
}

TEST_CASE("validate prints every error as FILE:LINE:COL: error: PATH and exits 1", "[e2e]") {
  TempDir dir;
  const std::string file = dir.path + "/bad.yaml";
  WriteFile(file, kInvalid);
  ProcessResult r = Entrenar({"validate", file});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find(file + ":5:7: error: optimizer.lr: expected a number > 0, found -1\n") !=
        std::string::npos);
  CHECK(r.err.find(file + ":6:3: error: optimizer.nam: unknown key `nam` in `optimizer`\n"
                          "  hint: did you mean `name`?\n") != std::string::npos);
  CHECK(r.err.find("2 errors\n") != std::string::npos);
}

TEST_CASE("validate refuses what train would refuse, at its line, and exits 3 as train does",
          "[e2e][contract]") {
  TempDir dir;
  const std::string file = dir.path + "/m.yaml";
  std::ifstream in(kSource + "/examples/iris.yaml");
  std::ostringstream text;
  text << in.rdbuf();
  WriteFile(file, text.str() + "\nlora:\n  enabled: true\n  target_modules: [q_proj]\n");
  ProcessResult v = Entrenar({"validate", file, "--set", "model.device=mps"});
  CHECK(v.exit_code == 3);
  CHECK_THAT(v.err, Catch::Contains("error: model.device: not supported yet: model.device: mps"));
  CHECK(std::regex_search(v.err, std::regex(std::regex_replace(file, std::regex("[.]"), "[.]") +
                                            ":[0-9]+:[0-9]+: error: lora.target_modules: ")));
  CHECK(v.out.find("Configuration is valid.") == std::string::npos);
  ProcessResult json = Entrenar({"validate", file, "--json"});
  CHECK(json.exit_code == 3);
  const nlohmann::json j = nlohmann::json::parse(json.out);
  CHECK_FALSE(j["valid"].get<bool>());
  REQUIRE(j["errors"].size() == 1);
  CHECK(j["errors"][0]["path"] == "lora.target_modules");
  // train refuses the same, with the same message.
  ProcessResult t = Entrenar({"train", file, "--output", dir.path + "/run"});
  CHECK(t.exit_code == 3);
  CHECK_THAT(t.err, Catch::Contains(j["errors"][0]["message"].get<std::string>()));
  // A time budget with a schedule that needs the run's length: no data needed to know.
  ProcessResult duration =
      Entrenar({"validate", kSource + "/examples/digits.yaml", "--set", "training.duration=10m"});
  CHECK(duration.exit_code == 1);
  CHECK_THAT(duration.err,
             Catch::Contains("error: training.duration: the `cosine_annealing` schedule with "
                             "warmup.ratio needs the run's length in steps"));
  CHECK_THAT(duration.err, Catch::Contains("hint: set scheduler.T_max (and warmup.steps)"));
}

TEST_CASE(
    "validate refuses SPEC Appendix B without data as train does: exit 1, naming the "
    "data and the tokenize step",
    "[e2e][contract]") {
  TempDir dir;
  const std::string file = dir.path + "/b.yaml";
  WriteFile(file,
            "entrenar: \"1.0\"\nname: llama-lora\nversion: \"1.0.0\"\n"
            "model:\n  source: ./models/llama\n"
            "lora:\n  enabled: true\n  rank: 16\n  alpha: 32\n  target_modules: [q_proj, v_proj]\n"
            "training:\n  epochs: 3\noutput:\n  dir: ./output\n");
  ProcessResult v = Entrenar({"validate", file});
  INFO(v.err);
  CHECK(v.exit_code == 1);
  CHECK_THAT(v.err, Catch::Contains(file + ":1:1: error: data: no data to train on"));
  CHECK_THAT(v.err, Catch::Contains("error: data.preprocessing: a language model trains on "
                                    "tokenized text, and there is no tokenize step"));
  CHECK_THAT(v.err, !Catch::Contains("safetensors files load"));
  CHECK_THAT(v.err, !Catch::Contains("without `architecture`"));
  ProcessResult t = Entrenar({"train", file, "--output", dir.path + "/run"});
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.err, Catch::Contains("error: data: no data to train on"));
  CHECK_FALSE(fs::exists(dir.path + "/run"));
}

TEST_CASE("validate --json reports the same diagnostics as data", "[e2e]") {
  TempDir dir;
  const std::string file = dir.path + "/bad.yaml";
  WriteFile(file, kInvalid);
  ProcessResult r = Entrenar({"validate", file, "--json"});
  CHECK(r.exit_code == 1);
  nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["valid"] == false);
  REQUIRE(j["errors"].size() == 2);
  CHECK(j["errors"][0]["path"] == "optimizer.lr");
  CHECK(j["errors"][0]["line"] == 5);
  CHECK(j["errors"][0]["column"] == 7);
  CHECK(j["errors"][1]["hints"][0] == "did you mean `name`?");

  ProcessResult ok =
      Entrenar({"validate", kSource + "/examples/digits.yaml", "--json", "--print-resolved"});
  CHECK(ok.exit_code == 0);
  nlohmann::json v = nlohmann::json::parse(ok.out);
  CHECK(v["valid"] == true);
  CHECK(v["resolved"]["optimizer"]["lr"] == 0.002);
  CHECK(v["resolved"]["training"]["effective_batch_size"] == 64);
  CHECK(v["resolved"]["data"]["preprocessing"][0]["normalize"]["columns"].size() == 64);
}

TEST_CASE("validate --print-resolved output validates again from standard input", "[e2e]") {
  ProcessResult r = Entrenar({"validate", kSource + "/examples/digits.yaml", "--print-resolved",
                              "--set", "optimizer.lr=0.01"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("lr: 0.01") != std::string::npos);
  ProcessResult again = Entrenar({"validate", "-"}, r.out);
  INFO(again.err);
  CHECK(again.exit_code == 0);
}

TEST_CASE("validate --set overrides are applied and validated", "[e2e]") {
  ProcessResult r =
      Entrenar({"validate", kSource + "/examples/digits.yaml", "--set", "training.epochs=0"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--set training.epochs=0: error: training.epochs: expected an integer >= 1") !=
        std::string::npos);
}

TEST_CASE("Usage errors exit 2", "[e2e]") {
  CHECK(Entrenar({}).exit_code == 2);
  CHECK(Entrenar({"validate"}).exit_code == 2);
  CHECK(Entrenar({"validate", "x.yaml", "--no-such-flag"}).exit_code == 2);
  CHECK(Entrenar({"frobnicate"}).exit_code == 2);
  ProcessResult r = Entrenar({"init", "--template", "qlroa"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("did you mean `qlora`?") != std::string::npos);
}

TEST_CASE("A missing manifest file is reported, not crashed on", "[e2e]") {
  ProcessResult r = Entrenar({"validate", "/nonexistent/m.yaml"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("/nonexistent/m.yaml: error: cannot open the manifest") != std::string::npos);
  ProcessResult dir = Entrenar({"validate", "/tmp"});
  CHECK(dir.exit_code == 1);
  CHECK(dir.err.find("/tmp: error: cannot open the manifest: /tmp is a directory") !=
        std::string::npos);
}

TEST_CASE("validate reads a manifest from a pipe, and refuses a device or a huge file at once",
          "[e2e]") {
  // A shell's <(...) is a FIFO: read to its end.
  ProcessResult piped =
      RunProcess({"/bin/bash", "-c", Binary() + " validate <(" + Binary() + " init)"}, "", 60);
  INFO(piped.err);
  CHECK(piped.exit_code == 0);
  // /dev/zero never ends: refused without reading a byte (it used to abort after ~1 GB).
  ProcessResult zero = Entrenar({"validate", "/dev/zero"});
  CHECK(zero.exit_code == 1);
  CHECK(zero.err.find("/dev/zero: error: cannot open the manifest: /dev/zero is a device, not a "
                      "regular file") != std::string::npos);
  TempDir dir;
  WriteFile(dir.path + "/big.yaml", "name: x\n" + std::string(2 << 20, '#'));
  ProcessResult big = Entrenar({"validate", dir.path + "/big.yaml"});
  CHECK(big.exit_code == 1);
  CHECK(big.err.find("big.yaml is larger than the 1 MiB allowed") != std::string::npos);
}

TEST_CASE("Every init template validates as printed", "[e2e]") {
  for (const char* t : {"minimal", "classifier", "regression", "lora", "qlora", "transformer"}) {
    INFO(t);
    ProcessResult init = Entrenar({"init", "--template", t});
    REQUIRE(init.exit_code == 0);
    ProcessResult v = Entrenar({"validate", "-"}, init.out);
    INFO(v.err);
    CHECK(v.exit_code == 0);
    CHECK(v.err.empty());
  }
}

TEST_CASE("init -o writes the file whole, leaving no temporary behind", "[e2e]") {
  TempDir dir;
  ProcessResult r = Entrenar({"init", "-t", "lora", "-o", dir.path + "/lora.yaml"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename());
  CHECK(names == std::vector<std::string>{"lora.yaml"});
  CHECK(Entrenar({"validate", dir.path + "/lora.yaml"}).exit_code == 0);
}

TEST_CASE("lock, then validate --strict, refuses a changed data file", "[e2e]") {
  TempDir dir;
  fs::copy_file(kSource + "/examples/data/iris.csv", dir.path + "/iris.csv");
  std::ifstream in(kSource + "/examples/iris.yaml");
  std::ostringstream text;
  text << in.rdbuf();
  WriteFile(dir.path + "/iris.yaml",
            std::regex_replace(text.str(), std::regex("\\./data/iris\\.csv"), "iris.csv"));
  ProcessResult lock =
      Entrenar({"lock", dir.path + "/iris.yaml", "-o", dir.path + "/iris.lock.yaml"});
  INFO(lock.err);
  REQUIRE(lock.exit_code == 0);
  ProcessResult strict = Entrenar({"validate", "--strict", dir.path + "/iris.lock.yaml"});
  INFO(strict.err);
  CHECK(strict.exit_code == 0);
  CHECK(strict.out.find("✓ Locked file hashes match") != std::string::npos);

  std::ofstream(dir.path + "/iris.csv", std::ios::app) << "5.0,3.0,1.0,0.1,setosa\n";
  ProcessResult changed = Entrenar({"validate", "--strict", dir.path + "/iris.lock.yaml"});
  CHECK(changed.exit_code == 1);
  CHECK(changed.err.find("lock.files[0].sha256: `iris.csv` (data.source) changed since it was "
                         "locked") != std::string::npos);
  // Without --strict the lock file is still an ordinary valid manifest.
  CHECK(Entrenar({"validate", dir.path + "/iris.lock.yaml"}).exit_code == 0);
  // --strict on a manifest with no lock section is refused.
  CHECK(Entrenar({"validate", "--strict", dir.path + "/iris.yaml"}).exit_code == 1);
}

TEST_CASE("plan summarises the digits example", "[e2e]") {
  ProcessResult r = Entrenar({"plan", kSource + "/examples/digits.yaml"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("1,797 rows") != std::string::npos);
  CHECK(r.out.find("parameters  9,610") != std::string::npos);  // 64*128+128 + 128*10+10
  CHECK(r.out.find("64 columns") != std::string::npos);
  CHECK(r.out.find("40 epochs × 23 steps = 920 steps") != std::string::npos);
}

TEST_CASE("schema prints the JSON Schema and the key list", "[e2e]") {
  ProcessResult json = Entrenar({"schema"});
  REQUIRE(json.exit_code == 0);
  nlohmann::json j = nlohmann::json::parse(json.out);
  CHECK(j["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(j["required"] == nlohmann::json({"entrenar", "name", "version"}));
  ProcessResult keys = Entrenar({"schema", "--format", "keys"});
  REQUIRE(keys.exit_code == 0);
  CHECK(keys.out.find("\noptimizer.lr\n") != std::string::npos);
  CHECK(keys.out.find("\nmodel.architecture.layers[].linear.in_features\n") != std::string::npos);
}

}  // namespace

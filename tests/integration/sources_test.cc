// hf:// sources through entrenard: the job's worker fetches SPEC §11's model and data from a
// local Hub into the cache, reports the downloads in the job's log, and trains what
// `entrenar train` trains.
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_harness.h"
#include "hub_fixture.h"
#include "hub_server.h"

namespace entrenar::testing::daemon {
namespace {

namespace fs = std::filesystem;

// [slow]: QLoRA runs of 2048-token sequences, LibTorch's time (Release pass only).
TEST_CASE("sources: SPEC §11 submitted to entrenard fetches from the Hub and trains",
          "[integration][slow]") {
  TempDir dir;
  const std::string root = MakeSpec11Hub(dir.path, Binary("entrenar"));
  const std::string cache = dir.path + "/cache";
  const std::string token = "hf_daemon_secret_77";
  HubServer hub(root, {"--token", token});
  // entrenard's own environment carries the Hub's settings; its worker, running as the same
  // user here, inherits them (another user's would get the mirror but not the token or cache).
  Daemon d(2, 30, {},
           {"/usr/bin/env", "HF_ENDPOINT=" + hub.Endpoint(), "HF_HUB_CACHE=" + cache,
            "HF_TOKEN=" + token});
  const std::string run = d.dir.path + "/runs/s11";
  std::vector<std::string> args = {"submit"};
  for (const std::string& a : Spec11Args()) args.push_back(a);
  args.insert(args.end(), {"--set", "output.dir=" + run, "--follow"});
  const ProcessResult r = d.Cli(args, 300);
  INFO(r.out + r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("state: SUCCEEDED") != std::string::npos);
  // The downloads are in the job's log, as they happened, and the token is nowhere in it.
  const ProcessResult logs = d.Cli({"logs", "1"});
  CHECK(logs.out.find("downloading model-00001-of-00002.safetensors of "
                      "hf://meta-llama/Llama-2-7b") != std::string::npos);
  CHECK(logs.out.find("data.source: hf://tatsu-lab/alpaca is commit ") != std::string::npos);
  CHECK(logs.out.find(token) == std::string::npos);
  CHECK(fs::exists(cache + "/models--meta-llama--Llama-2-7b/refs/main"));
  // The same manifest trained here, offline from the cache the worker filled: the same losses.
  const ProcessResult local = RunProcess(
      [&] {
        std::vector<std::string> argv = {"/usr/bin/env", "HF_HUB_OFFLINE=1",
                                         "HF_HUB_CACHE=" + cache, Binary("entrenar"), "train"};
        for (const std::string& a : Spec11Args()) argv.push_back(a);
        argv.insert(argv.end(), {"--output", d.dir.path + "/local"});
        return argv;
      }(),
      "", 240);
  INFO(local.err);
  REQUIRE(local.exit_code == 0);
  const auto reference = LossByStep(d.dir.path + "/local");
  REQUIRE(reference.size() == 1);
  CHECK(LossByStep(run) == reference);
}

}  // namespace
}  // namespace entrenar::testing::daemon

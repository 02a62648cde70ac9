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

// A slow Hub (each file's bytes 4 s late): while the worker fetches, the job is RUNNING with the
// activity `downloading`, and `entrenar ls` says DOWNLOADING; once it trains, it says RUNNING.
TEST_CASE("sources: a job fetching its data is DOWNLOADING, then RUNNING", "[integration]") {
  TempDir dir;
  fs::create_directories(dir.path + "/hub/datasets/flowers/iris");
  fs::copy_file(kSource + "/examples/data/iris.csv",
                dir.path + "/hub/datasets/flowers/iris/iris.csv");
  HubServer hub(dir.path + "/hub", {"--delay", "4"});
  Daemon d(
      2, 30, {},
      {"/usr/bin/env", "HF_ENDPOINT=" + hub.Endpoint(), "HF_HUB_CACHE=" + dir.path + "/cache"});
  const std::int64_t id = d.Submit(kSource + "/examples/iris.yaml",
                                   {"data.source=hf://datasets/flowers/iris", "training.epochs=2",
                                    "output.dir=" + d.dir.path + "/runs/iris"});
  const json downloading = d.WaitFor(
      id, [](const json& j) { return j["activity"] == "downloading"; }, 60);
  CHECK(downloading["state"] == "RUNNING");
  const ProcessResult ls = d.Cli({"ls"});
  CHECK(ls.out.find("DOWNLOADING") != std::string::npos);
  const ProcessResult show = d.Cli({"show", std::to_string(id)});
  CHECK(show.out.find("RUNNING") != std::string::npos);
  CHECK(show.out.find("downloading its sources") != std::string::npos);
  const json done = d.WaitFor(
      id, [](const json& j) { return j["state"] == "SUCCEEDED"; }, 120);
  CHECK(done["activity"] == "");
  // The log says it too, in order: the worker downloaded, then trained.
  const ProcessResult logs = d.Cli({"logs", std::to_string(id)});
  const auto fetching = logs.out.find("worker: downloading");
  const auto preparing = logs.out.find("worker: preparing");
  const auto training = logs.out.find("worker: running");
  REQUIRE(fetching != std::string::npos);
  REQUIRE(preparing != std::string::npos);
  REQUIRE(training != std::string::npos);
  CHECK(fetching < preparing);
  CHECK(preparing < training);
  CHECK(logs.out.find("downloading iris.csv of hf://datasets/flowers/iris") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::testing::daemon

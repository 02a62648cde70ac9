// Admission: what entrenard queues, decided without gRPC, a daemon or a worker.
#include "entrenar/admission/admission.h"

#include <catch2/catch.hpp>

#include "manifest_helpers.h"

namespace entrenar::admission {
namespace {

manifest::Manifest Load(const std::string& body, std::vector<std::string> sets = {}) {
  return testing::LoadValid(body, std::move(sets));
}

const std::string kBody =
    "data: {source: d.csv, target: y}\n"
    "model:\n  architecture:\n    type: sequential\n    layers:\n"
    "      - linear: {in_features: 4, out_features: 3}\n"
    "output: {dir: runs/./a/}\n";

std::vector<devices::Device> Cpus(int n) {
  std::vector<devices::Device> out;
  for (int i = 0; i < n; ++i) {
    devices::Device d;
    d.kind = "cpu";
    d.name = "cpu:" + std::to_string(i);
    out.push_back(d);
  }
  return out;
}

Request Ask() {
  Request r;
  r.uid = 1000;
  r.gid = 1000;
  r.user = "ana";
  r.working_dir = "/home/ana/exp";
  return r;
}

TEST_CASE("admission: a job's spec, its run directory and a drawn seed", "[unit][server]") {
  manifest::Manifest m = Load(kBody);
  std::vector<manifest::Diagnostic> unsupported;
  const Result<store::JobSpec> spec = Admit(m, Ask(), Policy{}, Cpus(2), &unsupported);
  REQUIRE(spec.ok());
  CHECK(spec->run_dir == "/home/ana/exp/runs/a");
  CHECK(spec->device_kind == "cpu");
  CHECK(spec->devices == 1);
  CHECK(spec->name == "t");
  REQUIRE(m.seed.has_value());  // drawn once, and written into the stored manifest
  CHECK(spec->manifest.find("seed: " + std::to_string(*m.seed)) != std::string::npos);
}

TEST_CASE("admission: a data-parallel job asks for one device per rank", "[unit][server]") {
  std::vector<manifest::Diagnostic> unsupported;
  manifest::Manifest m = Load(kBody, {"training.distributed.world_size=2"});
  Result<store::JobSpec> spec = Admit(m, Ask(), Policy{}, Cpus(2), &unsupported);
  REQUIRE(spec.ok());
  CHECK(spec->devices == 2);  // all started together, or not at all
  Request three = Ask();
  three.devices = 3;
  spec = Admit(m, three, Policy{}, Cpus(4), &unsupported);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.status().code() == StatusCode::kInvalidArgument);
  CHECK(spec.status().message().find(
            ": training.distributed.world_size is 2 but the job asks for 3 device(s)") !=
        std::string::npos);
  // More ranks than the server has devices could never start.
  manifest::Manifest big = Load(kBody, {"training.distributed.world_size=4"});
  spec = Admit(big, Ask(), Policy{}, Cpus(2), &unsupported);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.status().message().find("the job needs 4 CPU slot(s) but this server has 2") !=
        std::string::npos);
}

TEST_CASE("admission: refusals name their reason and carry their code", "[unit][server]") {
  std::vector<manifest::Diagnostic> unsupported;
  auto admit = [&](manifest::Manifest m, Request r, Policy p = {}) {
    return Admit(m, std::move(r), p, Cpus(2), &unsupported).status();
  };
  Request two = Ask();
  two.devices = 5;
  CHECK(admit(Load(kBody), two).message() ==
        "the job needs 5 CPU slot(s) but this server has 2; it could never start");
  CHECK(admit(Load(kBody, {"model.device=cuda"}), Ask()).code() == StatusCode::kFailedPrecondition);
  Request named = Ask();
  named.device_names = {"cpu:1", "cpu:1"};
  CHECK(admit(Load(kBody), named).message() == "device `cpu:1` is listed twice");
  named.device_names = {"cuda:7"};
  CHECK(admit(Load(kBody), named).message() ==
        "this server has no device `cuda:7` (it has cpu:0, cpu:1)");
  Request high = Ask();
  high.priority = 101;
  CHECK(admit(Load(kBody), high).code() == StatusCode::kPermissionDenied);
  Policy admins;
  admins.admins = {1000};
  CHECK(admit(Load(kBody), high, admins).ok());
  Request relative = Ask();
  relative.working_dir = "exp";
  CHECK(admit(Load(kBody), relative).code() == StatusCode::kInvalidArgument);
  const Status custom = admit(
      Load(kBody + "callbacks: [{type: custom, trigger: epoch_end, command: [true]}]\n"), Ask());
  CHECK(custom.code() == StatusCode::kFailedPrecondition);
  CHECK(custom.message().find("callbacks[0]: custom callbacks are off on this entrenard") !=
        std::string::npos);
  Request named_long = Ask();
  named_long.name = std::string(300, 'x');
  CHECK(admit(Load(kBody), named_long).code() == StatusCode::kInvalidArgument);
}

TEST_CASE("admission: what the engine does not run is refused with its diagnostics",
          "[unit][server]") {
  std::vector<manifest::Diagnostic> unsupported;
  manifest::Manifest m = Load(kBody, {"training.distributed={strategy: deepspeed}"});
  const Result<store::JobSpec> spec = Admit(m, Ask(), Policy{}, Cpus(2), &unsupported);
  REQUIRE_FALSE(spec.ok());
  CHECK(spec.status().code() == StatusCode::kUnimplemented);
  REQUIRE(unsupported.size() == 1);
  CHECK(unsupported[0].path == "training.distributed.strategy");
  CHECK(spec.status().message().find("not supported yet: training.distributed.strategy") !=
        std::string::npos);
}

}  // namespace
}  // namespace entrenar::admission

#include "entrenar/service/job_service.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "manual_clock.h"
#include "temp_dir.h"

namespace entrenar::service {
namespace {

using testing::ManualClock;
using testing::TempDir;

// 2031-05-06T07:08:09Z.
std::chrono::system_clock::time_point May2031() {
  return std::chrono::system_clock::from_time_t(1935817689);
}

std::string Iris() {
  std::ifstream in(std::string(ENTRENAR_SOURCE_DIR) + "/examples/iris.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

supervisor::Config OneCpuSlot() {
  supervisor::Config config;
  config.devices = {devices::Device{"cpu:0", "cpu", 0, "", 0}};
  return config;
}

// A JobService over a real store and a supervisor that is not started (nothing runs), called
// directly, as gRPC would, by this process's user.
struct Service {
  TempDir dir;
  ManualClock clock{May2031()};
  std::unique_ptr<store::Store> store =
      std::move(store::Store::Open(dir.path + "/state.db", clock)).value();
  store::EventHub hub;
  supervisor::Supervisor supervisor{*store, OneCpuSlot(), clock};
  JobService service{*store,
                     hub,
                     supervisor,
                     ServiceConfig{},
                     [](grpc::ServerContextBase*) -> std::optional<Caller> {
                       return Caller{getuid(), getgid()};
                     },
                     clock};

  v1::ManifestSource Manifest() const {
    v1::ManifestSource src;
    src.set_yaml(Iris());
    src.set_working_dir(std::string(ENTRENAR_SOURCE_DIR) + "/examples");
    src.add_overrides("output.dir=" + dir.path + "/runs/t-{{ timestamp }}");
    return src;
  }
};

TEST_CASE(
    "{{ timestamp }} is the service's clock, and two submissions in one millisecond get "
    "two",
    "[unit][service]") {
  Service s;
  grpc::ServerContext ctx;
  v1::ValidateRequest validate;
  *validate.mutable_manifest() = s.Manifest();
  v1::ValidateResponse checked;
  REQUIRE(s.service.Validate(&ctx, &validate, &checked).ok());
  REQUIRE(checked.ok());
  CHECK_THAT(checked.resolved_yaml(), Catch::Contains("t-2031-05-06T07:08:09Z"));
  // The clock does not move between them: the second is a millisecond later all the same.
  v1::SubmitRequest submit;
  *submit.mutable_manifest() = s.Manifest();
  v1::SubmitResponse first, second;
  const grpc::Status submitted = s.service.Submit(&ctx, &submit, &first);
  INFO(submitted.error_message());
  REQUIRE(submitted.ok());
  REQUIRE(s.service.Submit(&ctx, &submit, &second).ok());
  CHECK(first.run_dir() == s.dir.path + "/runs/t-2031-05-06T07:08:09.000Z");
  CHECK(second.run_dir() == s.dir.path + "/runs/t-2031-05-06T07:08:09.001Z");
  s.clock.Advance(std::chrono::seconds(1));
  v1::SubmitResponse third;
  REQUIRE(s.service.Submit(&ctx, &submit, &third).ok());
  CHECK(third.run_dir() == s.dir.path + "/runs/t-2031-05-06T07:08:10.000Z");
}

}  // namespace
}  // namespace entrenar::service

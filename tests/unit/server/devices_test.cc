#include "entrenar/devices/devices.h"

#include <stdlib.h>

#include <catch2/catch.hpp>

namespace entrenar::devices {
namespace {

const std::string kFake = ENTRENAR_FAKE_NVML;

TEST_CASE("NVML is loaded at run time and its GPUs listed", "[unit][devices]") {
  setenv("FAKE_NVML_GPUS", "3", 1);
  const Result<std::vector<Gpu>> gpus = QueryNvml(kFake);
  unsetenv("FAKE_NVML_GPUS");
  INFO(gpus.status().ToString());
  REQUIRE(gpus.ok());
  REQUIRE(gpus->size() == 3);
  CHECK((*gpus)[2].index == 2);
  CHECK((*gpus)[2].model == "Fake NVML GPU 2");
  CHECK((*gpus)[2].uuid == "GPU-00000000-0000-0000-0000-000000000002");
  CHECK((*gpus)[2].memory_bytes == 16LL << 30);
}

TEST_CASE("Without NVML there are CPU slots only, and the reason is kept", "[unit][devices]") {
  const Result<std::vector<Gpu>> none = QueryNvml("/nonexistent/libnvidia-ml.so.1");
  CHECK(none.status().code() == StatusCode::kNotFound);
  DeviceConfig config;
  config.nvml_library = "/nonexistent/libnvidia-ml.so.1";
  config.cpu_slots = 2;
  const Result<Discovery> d = Discover(config);
  REQUIRE(d.ok());
  REQUIRE(d->devices.size() == 2);
  CHECK(d->devices[1].name == "cpu:1");
  CHECK(d->devices[1].kind == "cpu");
  CHECK(d->note.find("no NVIDIA driver") != std::string::npos);
  // A driver that fails to initialise is reported, not a crash.
  setenv("FAKE_NVML_FAIL_INIT", "1", 1);
  const Result<std::vector<Gpu>> broken = QueryNvml(kFake);
  unsetenv("FAKE_NVML_FAIL_INIT");
  CHECK(broken.status().message() == "nvmlInit failed: Driver Not Loaded");
}

TEST_CASE("The devices setting picks all GPUs, listed ones, or none", "[unit][devices]") {
  DeviceConfig config;
  config.nvml_library = kFake;
  config.cpu_slots = 1;
  const Result<Discovery> all = Discover(config);
  REQUIRE(all.ok());
  REQUIRE(all->devices.size() == 3);
  CHECK(all->devices[0].name == "cuda:0");
  CHECK(all->devices[1].kind == "gpu");
  CHECK(all->devices[2].name == "cpu:0");
  config.mode = "list";
  config.gpus = {1};
  const Result<Discovery> listed = Discover(config);
  REQUIRE(listed.ok());
  REQUIRE(listed->devices.size() == 2);
  CHECK(listed->devices[0].name == "cuda:1");
  CHECK(listed->devices[0].index == 1);
  config.gpus = {5};
  CHECK(Discover(config).status().message() == "devices lists GPU 5 but NVML finds 2 GPU(s)");
  config.mode = "cpu";
  const Result<Discovery> cpu = Discover(config);
  REQUIRE(cpu.ok());
  CHECK(cpu->devices.size() == 1);
  config.cpu_slots = 0;
  CHECK(!Discover(config).ok());
}

}  // namespace
}  // namespace entrenar::devices

#include "entrenar/config/config.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar::config {
namespace {

using testing::TempDir;

Status Load(const std::string& text, Daemon* c) {
  TempDir dir;
  const std::string path = dir.path + "/entrenard.yaml";
  std::ofstream(path) << text;
  return LoadFile(path, c);
}

TEST_CASE("The config file sets every option", "[unit][config]") {
  Daemon c = Defaults(1000);
  const Status s = Load(
      "socket: /tmp/e.sock\n"
      "state_dir: /tmp/state\n"
      "devices: [0, 2]\n"
      "cpu_slots: 3\n"
      "nvml_library: /opt/nvml.so\n"
      "admins: [root, 1234]\n"
      "grace_period: 90\n"
      "retention_days: 30\n"
      "worker: /opt/entrenar-train\n"
      "log_level: debug\n"
      "allow_custom_callbacks: true\n"
      "preemption:\n"
      "  priority: 50\n"
      "  max_running_per_user: 2\n"
      "tcp:\n"
      "  address: 127.0.0.1:7443\n"
      "  cert: /etc/c.pem\n"
      "  key: /etc/k.pem\n"
      "  tokens: /etc/tokens\n",
      &c);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(c.socket == "/tmp/e.sock");
  CHECK(c.state_dir == "/tmp/state");
  CHECK(c.devices == "0,2");
  CHECK(c.cpu_slots == 3);
  CHECK(c.nvml_library == "/opt/nvml.so");
  CHECK(c.admins == std::vector<std::string>{"root", "1234"});
  CHECK(c.grace_seconds == 90);
  CHECK(c.retention_days == 30);
  CHECK(c.worker == "/opt/entrenar-train");
  CHECK(c.log_level == "debug");
  CHECK(c.allow_custom_callbacks);
  CHECK(c.preemption.priority == 50);
  CHECK(c.preemption.max_running_per_user == 2);
  CHECK(c.tcp.address == "127.0.0.1:7443");
  CHECK(c.tcp.tokens == "/etc/tokens");
}

TEST_CASE("Config mistakes name the file, line, column and key", "[unit][config]") {
  Daemon c = Defaults(1000);
  Status s = Load("cpu_slots: 2\ngrace_perod: 5\n", &c);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("entrenard.yaml:2:1: unknown key `grace_perod`; did you mean "
                         "`grace_period`?") != std::string::npos);
  s = Load("allow_custom_callbacks: sometimes\n", &c);
  CHECK(s.message().find("allow_custom_callbacks: expected true or false, got `sometimes`") !=
        std::string::npos);
  s = Load("cpu_slots: many\n", &c);
  CHECK(s.message().find(":1:12: cpu_slots: expected an integer, got `many`") != std::string::npos);
  s = Load("tcp:\n  adress: x\n", &c);
  CHECK(s.message().find(":2:3: unknown key `tcp.adress`; did you mean `address`?") !=
        std::string::npos);
  s = Load("devices: [0, gpu]\n", &c);
  CHECK(s.message().find("devices: expected a GPU index") != std::string::npos);
  s = Load("devices: some\n", &c);
  CHECK(s.message().find("devices: expected `auto`, `cpu` or a list of GPU indices") !=
        std::string::npos);
  s = Load("admins: [no_such_user_here]\n", &c);
  CHECK(s.message().find("admins: no user `no_such_user_here`") != std::string::npos);
  c = Defaults(1000);
  s = Load("tcp: {address: 0.0.0.0:1}\n", &c);
  CHECK(s.message().find("tcp.cert, tcp.key and tcp.tokens are required") != std::string::npos);
  s = Load("preemption:\n  priorty: 5\n", &c);
  CHECK(s.message().find(":2:3: unknown key `preemption.priorty`; did you mean `priority`?") !=
        std::string::npos);
  s = Load("preemption: {max_running_per_user: -1}\n", &c);
  CHECK(s.message().find("preemption.max_running_per_user: expected 0 (no limit) or more") !=
        std::string::npos);
  s = Load("socket: [\n", &c);
  CHECK(s.message().find("not valid YAML") != std::string::npos);
  CHECK(LoadFile("/nonexistent/entrenard.yaml", &c).code() == StatusCode::kNotFound);
}

TEST_CASE("The example config in deploy/ loads", "[unit][config]") {
  Daemon c = Defaults(0);
  const Status s = LoadFile(std::string(ENTRENAR_SOURCE_DIR) + "/deploy/entrenard.yaml", &c);
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(c.retention_days == 90);
  CHECK_FALSE(c.allow_custom_callbacks);
  CHECK_FALSE(c.preemption.priority.has_value());  // off unless an admin turns it on
}

TEST_CASE("Devices are auto, cpu or a list of GPU indices", "[unit][config]") {
  std::string mode;
  std::vector<int> gpus;
  REQUIRE(ParseDevices("auto", &mode, &gpus).ok());
  CHECK(mode == "auto");
  REQUIRE(ParseDevices("1, 3", &mode, &gpus).ok());
  CHECK(mode == "list");
  CHECK(gpus == std::vector<int>{1, 3});
  CHECK(!ParseDevices("1,", &mode, &gpus).ok());
  CHECK(!ParseDevices("-1", &mode, &gpus).ok());
  CHECK(!ParseDevices("gpu", &mode, &gpus).ok());
  CHECK(ResolveUser("root").value() == 0);
  CHECK(ResolveUser("4321").value() == 4321);
}

}  // namespace
}  // namespace entrenar::config

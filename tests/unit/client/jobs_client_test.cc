#include "entrenar/client/jobs_client.h"

#include <cstdlib>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "temp_dir.h"

using Catch::Matchers::Contains;
using entrenar::StatusCode;
using entrenar::client::JobsClient;

namespace {

// Sets an environment variable for a scope (empty: unset), restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value.empty()) {
      unsetenv(name);
    } else {
      setenv(name, value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("The jobs client names the daemon it cannot reach, and how to choose another",
          "[unit][client]") {
  entrenar::testing::TempDir dir;
  const std::string socket = dir.path + "/entrenard.sock";
  const JobsClient c = JobsClient::Connect(socket);
  CHECK(c.address() == socket);
  const auto job = c.GetJob(1);
  REQUIRE_FALSE(job.ok());
  CHECK(job.status().code() == StatusCode::kUnavailable);
  CHECK_THAT(job.status().message(), Contains(socket) && Contains("--socket"));
  // Listings and streams fail the same way, and a stream calls back for nothing.
  CHECK(c.ListJobs({}).status().code() == StatusCode::kUnavailable);
  int events = 0;
  const entrenar::Status streamed =
      c.StreamEvents(1, 0, true, [&](const entrenar::v1::Event&) { ++events; });
  CHECK(streamed.code() == StatusCode::kUnavailable);
  CHECK(events == 0);
}

TEST_CASE("The jobs client goes to --socket, else ENTRENAR_ADDR over TCP, else ENTRENAR_SOCKET",
          "[unit][client]") {
  const ScopedEnv addr("ENTRENAR_ADDR", "127.0.0.1:1");
  const ScopedEnv socket("ENTRENAR_SOCKET", "/tmp/their.sock");
  CHECK(JobsClient::Connect("/tmp/mine.sock").address() == "/tmp/mine.sock");
  CHECK(JobsClient::Connect("").address() == "127.0.0.1:1");
  const ScopedEnv no_addr("ENTRENAR_ADDR", "");
  CHECK(JobsClient::Connect("").address() == "/tmp/their.sock");
}

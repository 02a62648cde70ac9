// The environment entrenard gives a worker.
#include "launch.h"

#include <stdlib.h>

#include <algorithm>

#include <catch2/catch.hpp>

namespace entrenar::supervisor {
namespace {

bool Has(const std::vector<std::string>& env, const std::string& var) {
  return std::find(env.begin(), env.end(), var) != env.end();
}

bool Names(const std::vector<std::string>& env, const std::string& name) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& v) { return v.rfind(name + "=", 0) == 0; });
}

TEST_CASE("a worker of another user gets none of entrenard's credentials or caches",
          "[unit][server]") {
  const char* const personal[] = {
      "HF_TOKEN",       "HF_HOME",           "HF_HUB_CACHE",          "HF_TOKEN_PATH",
      "XDG_CACHE_HOME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_PROFILE",    "XDG_DATA_HOME"};
  for (const char* name : personal) ::setenv(name, "the-daemon-users-own", 1);
  ::setenv("HF_ENDPOINT", "https://mirror.example", 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  const Config config;
  const std::vector<std::string> other = WorkerEnv(config, "", "alice", "/home/alice");
  for (const char* name : personal) {
    INFO(name);
    CHECK_FALSE(Names(other, name));
  }
  // The admin's choices of where the Hub is and whether to reach it hold for every job.
  CHECK(Has(other, "HF_ENDPOINT=https://mirror.example"));
  CHECK(Has(other, "HF_HUB_OFFLINE=1"));
  CHECK(Has(other, "HOME=/home/alice"));
  // A registry the admin names (ENTRENAR_REGISTRY) is shared on purpose: it reaches every job.
  ::setenv("ENTRENAR_REGISTRY", "/srv/registry", 1);
  CHECK(Has(WorkerEnv(config, "", "alice", "/home/alice"), "ENTRENAR_REGISTRY=/srv/registry"));
  ::unsetenv("ENTRENAR_REGISTRY");
  // A worker running as entrenard's own user keeps them: they are its own.
  const std::vector<std::string> same = WorkerEnv(config, "", "", "");
  CHECK(Has(same, "HF_TOKEN=the-daemon-users-own"));
  for (const char* name : personal) ::unsetenv(name);
  ::unsetenv("HF_ENDPOINT");
  ::unsetenv("HF_HUB_OFFLINE");
}

}  // namespace
}  // namespace entrenar::supervisor

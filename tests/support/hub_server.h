// The local Hugging Face Hub (tests/support/hub_server.py) for a test: started on a free port
// over a folder of repositories, stopped when the object goes away.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "subprocess.h"

namespace entrenar::testing {

class HubServer {
 public:
  // Serves `root` (ROOT/models/ORG/NAME/..., ROOT/datasets/ORG/NAME/...), with hub_server.py's
  // `flags` (--token T, --cut-after N); its output goes beside `root`.
  explicit HubServer(const std::string& root, std::vector<std::string> flags = {})
      : out_(root + ".hub.out"), process_(Argv(root, flags), out_, root + ".hub.err") {
    for (std::size_t i = 0; i + 1 < flags.size(); ++i) {
      if (flags[i] == "--token") token_ = flags[i + 1];
    }
    for (int i = 0; i < 400 && port_.empty(); ++i) {
      std::ifstream in(out_);
      std::string line;
      if (std::getline(in, line) && line.rfind("PORT ", 0) == 0 && !in.eof()) {
        port_ = line.substr(5);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    REQUIRE(!port_.empty());
  }

  std::string Endpoint() const { return "http://127.0.0.1:" + port_; }

  // The requests the server has answered (method, path, range, authorized).
  nlohmann::json Requests() const {
    const ProcessResult r = RunProcess(
        {"/usr/bin/python3", "-c",
         "import sys, urllib.request\nprint(urllib.request.urlopen(sys.argv[1]).read().decode())",
         Endpoint() + "/__state"});
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out)["requests"];
  }

  // The commit the server gives `repo` ("ORG/NAME", or "datasets/ORG/NAME").
  std::string Commit(const std::string& repo) const {
    const bool dataset = repo.rfind("datasets/", 0) == 0;
    const std::string url =
        Endpoint() + "/api/" + (dataset ? "" : "models/") + repo + "/revision/main";
    const ProcessResult r =
        RunProcess({"/usr/bin/python3", "-c",
                    "import sys, json, urllib.request\n"
                    "req = urllib.request.Request(sys.argv[1])\n"
                    "if sys.argv[2]: req.add_header('Authorization', 'Bearer ' + sys.argv[2])\n"
                    "print(json.load(urllib.request.urlopen(req))['sha'])",
                    url, token_});
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, 40);
  }

 private:
  static std::vector<std::string> Argv(const std::string& root,
                                       const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {
        "/usr/bin/python3", std::string(ENTRENAR_SOURCE_DIR) + "/tests/support/hub_server.py",
        root};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return argv;
  }

  std::string out_;
  std::string token_;  // --token's, sent with Commit's request
  BackgroundProcess process_;
  std::string port_;
};

}  // namespace entrenar::testing

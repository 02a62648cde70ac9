// A local S3 server for a test: s3rver (npm, pinned in tests/js), which checks Signature Version
// 4 with its default credentials (S3RVER / S3RVER), started on a free port with one bucket and
// stopped when the object goes away.
#pragma once

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "subprocess.h"

namespace entrenar::testing {

class S3Server {
 public:
  S3Server(const std::string& dir, const std::string& bucket)
      : log_(dir + "/s3rver.log"),
        process_(
            {"/usr/bin/env", "node",
             std::string(ENTRENAR_SOURCE_DIR) + "/tests/js/node_modules/s3rver/bin/s3rver.js", "-d",
             dir + "/s3rver", "-a", "127.0.0.1", "-p", "0", "--configure-bucket", bucket},
            log_, dir + "/s3rver.err") {
    const std::string marker = "listening on 127.0.0.1:";
    for (int i = 0; i < 400 && port_.empty(); ++i) {
      std::ifstream in(log_);
      std::string line;
      while (std::getline(in, line)) {
        const std::size_t at = line.find(marker);
        if (at != std::string::npos) port_ = line.substr(at + marker.size());
      }
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(!port_.empty());
  }
  std::string Endpoint() const { return "http://127.0.0.1:" + port_; }

 private:
  std::string log_;
  BackgroundProcess process_;
  std::string port_;
};

}  // namespace entrenar::testing

#include "entrenar/formats/tfevents.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::formats {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("CRC-32C matches the published check value", "[unit][formats]") {
  CHECK(Crc32c("123456789", 9) == 0xe3069283u);
  CHECK(Crc32c("", 0) == 0u);
  std::string zeros(32, '\0');
  CHECK(Crc32c(zeros.data(), zeros.size()) == 0x8a9136aau);  // RFC 3720 B.4
}

TEST_CASE("tfevents files round-trip scalars and reject damage", "[unit][formats]") {
  testing::TempDir dir;
  Result<EventFileWriter> w = EventFileWriter::Open(dir.path + "/tb");
  REQUIRE(w.ok());
  CHECK(std::filesystem::path(w->path()).filename().string().rfind("events.out.tfevents.", 0) == 0);
  for (int step = 1; step <= 3; ++step) {
    w->Add({1700000000.5 + step, step, "", {{"train/loss", 1.0f / step}, {"lr", 0.01f}}});
  }
  REQUIRE(w->Flush().ok());
  const std::string bytes = ReadAll(w->path());
  Result<std::vector<ScalarEvent>> events = DecodeEventFile(bytes);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 4);
  CHECK((*events)[0].file_version == "brain.Event:2");
  CHECK((*events)[2].step == 2);
  CHECK((*events)[2].wall_time == 1700000002.5);
  CHECK((*events)[2].scalars.at("train/loss") == 0.5f);
  CHECK((*events)[3].scalars.at("lr") == 0.01f);

  // A record cut short (a writer still running) ends the list; a flipped byte is data loss.
  Result<std::vector<ScalarEvent>> cut = DecodeEventFile(bytes.substr(0, bytes.size() - 3));
  REQUIRE(cut.ok());
  CHECK(cut->size() == 3);
  std::string damaged = bytes;
  damaged[bytes.size() - 10] ^= 1;
  CHECK(DecodeEventFile(damaged).status().code() == StatusCode::kDataLoss);
}

TEST_CASE("an independent reader (crcmod + protobuf) reads our event files", "[unit][formats]") {
  testing::TempDir dir;
  Result<EventFileWriter> w = EventFileWriter::Open(dir.path);
  REQUIRE(w.ok());
  w->Add({1700000001.25, 7, "", {{"train_loss", 0.75f}, {"val/accuracy", 0.5f}}});
  w->Add({1700000002.0, 300, "", {{"train_loss", 0.125f}}});
  REQUIRE(w->Flush().ok());
  const auto r = testing::RunProcess(
      {"/usr/bin/python3", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/tfevents_read.py",
       w->path()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["file_version"] == "brain.Event:2");
  CHECK(j[1]["step"] == 7);
  CHECK(j[1]["wall_time"] == 1700000001.25);
  CHECK(j[1]["scalars"]["train_loss"] == 0.75);
  CHECK(j[1]["scalars"]["val/accuracy"] == 0.5);
  CHECK(j[2]["step"] == 300);
  CHECK(j[2]["scalars"]["train_loss"] == 0.125);
}

}  // namespace
}  // namespace entrenar::formats

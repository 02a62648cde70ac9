#include "entrenar/formats/parquet.h"

#include <cmath>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::formats {
namespace {

// 40 rows: a dense integer step, a dense loss, a sparse validation column (every 10th row),
// NaN and infinity, and long runs so the definition levels need multi-byte RLE headers.
std::vector<NumericColumn> Sample(std::size_t rows = 40) {
  NumericColumn step{"step", true, {}}, loss{"train_loss", false, {}}, val{"val_loss", false, {}};
  for (std::size_t i = 0; i < rows; ++i) {
    step.values.emplace_back(static_cast<double>(i + 1));
    loss.values.emplace_back(2.0 / static_cast<double>(i + 1));
    if (i % 10 == 9) {
      val.values.emplace_back(1.0 / static_cast<double>(i + 1));
    } else {
      val.values.emplace_back();
    }
  }
  loss.values[3] = std::nan("");
  loss.values[4] = INFINITY;
  return {step, loss, val};
}

TEST_CASE("parquet round-trips integer and double columns with missing cells", "[unit][formats]") {
  Result<std::string> bytes = EncodeParquet(Sample(300));
  REQUIRE(bytes.ok());
  CHECK(bytes->substr(0, 4) == "PAR1");
  CHECK(bytes->substr(bytes->size() - 4) == "PAR1");
  Result<std::vector<NumericColumn>> back = DecodeParquet(*bytes);
  REQUIRE(back.ok());
  const auto want = Sample(300);
  REQUIRE(back->size() == 3);
  for (std::size_t c = 0; c < 3; ++c) {
    CHECK((*back)[c].name == want[c].name);
    CHECK((*back)[c].integer == want[c].integer);
    REQUIRE((*back)[c].values.size() == 300);
    for (std::size_t i = 0; i < 300; ++i) {
      const auto& a = (*back)[c].values[i];
      const auto& b = want[c].values[i];
      REQUIRE(a.has_value() == b.has_value());
      if (a && std::isnan(*b)) {
        CHECK(std::isnan(*a));
      } else if (a) {
        CHECK(*a == *b);
      }
    }
  }
}

TEST_CASE("parquet refuses ragged columns and damaged files", "[unit][formats]") {
  auto cols = Sample();
  cols[1].values.pop_back();
  CHECK(EncodeParquet(cols).status().code() == StatusCode::kInvalidArgument);
  std::string bytes = *EncodeParquet(Sample());
  CHECK(DecodeParquet("PAR1PAR1").status().code() == StatusCode::kDataLoss);
  std::string cut = bytes.substr(0, bytes.size() - 30) + bytes.substr(bytes.size() - 8);
  CHECK(!DecodeParquet(cut).ok());
  for (std::size_t at = 4; at < bytes.size() - 8; at += 7) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
    (void)DecodeParquet(damaged);  // any answer but a crash (the sanitizer build checks)
  }
}

TEST_CASE("an independent Parquet reader (hyparquet) reads what we write", "[unit][formats]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/metrics.parquet";
  REQUIRE(WriteParquetFile(path, Sample()).ok());
  const auto r = testing::RunProcess(
      {"/usr/bin/env", "node", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/parquet_read.mjs",
       path});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["num_rows"] == 40);
  REQUIRE(j["schema"].size() == 3);
  CHECK(j["schema"][0]["name"] == "step");
  CHECK(j["schema"][0]["type"] == "INT64");
  CHECK(j["schema"][1]["type"] == "DOUBLE");
  CHECK(j["schema"][2]["repetition"] == "OPTIONAL");
  const auto& rows = j["rows"];
  REQUIRE(rows.size() == 40);
  CHECK(rows[0]["step"] == 1);
  CHECK(rows[39]["step"] == 40);
  CHECK(rows[1]["train_loss"].get<double>() == 1.0);
  CHECK(rows[4]["train_loss"].is_null());  // JSON has no infinity: stringify writes null
  CHECK(rows[0]["val_loss"].is_null());
  CHECK(rows[9]["val_loss"].get<double>() == 0.1);
  CHECK(rows[29]["val_loss"].get<double>() == Approx(1.0 / 30).epsilon(1e-15));
}

}  // namespace
}  // namespace entrenar::formats

// Where training data comes from: Parquet files written by an independent writer (DuckDB, as a
// user converting a data set would) train exactly as the CSV or JSON Lines they came from.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

using entrenar::testing::LossByStep;
using entrenar::testing::RunProcess;
using entrenar::testing::TempDir;
using entrenar::testing::Train;

const std::string kSource = ENTRENAR_SOURCE_DIR;

// `in` converted to Parquet by DuckDB (tests/formats/duckdb_copy.mjs).
void DuckDbCopy(const std::string& in, const std::string& out, const std::string& codec,
                const std::string& version, int row_group_size) {
  const auto r = RunProcess({"/usr/bin/env", "node", kSource + "/tests/formats/duckdb_copy.mjs", in,
                             out, codec, version, std::to_string(row_group_size)},
                            "", 120);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// Trains `example` twice, from its own data and with data.source set to `parquet`; the per-step
// training losses must be equal.
void TrainsAlike(const std::string& example, const std::string& parquet,
                 const std::vector<std::string>& sets, const std::string& dir) {
  std::vector<std::string> base = {kSource + "/examples/" + example};
  for (const std::string& s : sets) base.insert(base.end(), {"--set", s});
  std::vector<std::string> original = base, converted = base;
  original.insert(original.end(), {"--output", dir + "/original"});
  converted.insert(converted.end(),
                   {"--set", "data.source=" + parquet, "--output", dir + "/parquet"});
  const auto a = Train(original);
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  const auto b = Train(converted);
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  const auto losses = LossByStep(dir + "/original/metrics.jsonl");
  CHECK(losses.size() > 5);
  CHECK(losses == LossByStep(dir + "/parquet/metrics.jsonl"));
}

TEST_CASE("train on a Parquet table DuckDB wrote: the same losses as from its CSV", "[e2e]") {
  TempDir dir;
  const std::string parquet = dir.path + "/iris.parquet";
  // Zstd, data pages v2, several row groups; the species strings dictionary-encoded.
  DuckDbCopy(kSource + "/examples/data/iris.csv", parquet, "zstd", "V2", 64);
  TrainsAlike("iris.yaml", parquet, {"training.epochs=3"}, dir.path);
  // plan reads the same rows (its split sizes come from the file).
  const auto plan =
      RunProcess({entrenar::testing::EntrenarBinary(), "plan", kSource + "/examples/iris.yaml",
                  "--set", "data.source=" + parquet});
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("150"));
}

TEST_CASE("train a language model on instruction data in Parquet: the same losses as its JSONL",
          "[e2e]") {
  TempDir dir;
  const std::string parquet = dir.path + "/instruct.parquet";
  DuckDbCopy(kSource + "/examples/data/instruct.jsonl", parquet, "snappy", "V1", 122880);
  TrainsAlike("instruct.yaml", parquet, {"training.epochs=1"}, dir.path);
}

}  // namespace

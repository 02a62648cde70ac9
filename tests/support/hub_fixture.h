// What SPEC §11 names, served by a local Hub (hub_server.h): the fixtures shared by the e2e and
// the integration tests of hf:// sources.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "subprocess.h"

namespace entrenar::testing {

// `in` (CSV or JSON Lines) converted to Parquet by DuckDB (tests/formats/duckdb_copy.mjs).
inline void DuckDbCopy(const std::string& in, const std::string& out, const std::string& codec,
                       const std::string& version, int row_group_size) {
  const std::string source = ENTRENAR_SOURCE_DIR;
  const auto r = RunProcess({"/usr/bin/env", "node", source + "/tests/formats/duckdb_copy.mjs", in,
                             out, codec, version, std::to_string(row_group_size)},
                            "", 120);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

// A Hub root (for HubServer) holding meta-llama/Llama-2-7b, gated: a tiny LLaMA that `entrenar`
// trains here (max_seq_length 2048, the example's max_length) saved as two safetensors shards
// with an index; and tatsu-lab/alpaca: the examples' instruction records as Parquet where the
// Hub keeps a data set's (data/train-00000-of-00001-….parquet).
inline std::string MakeSpec11Hub(const std::string& dir, const std::string& entrenar) {
  const std::string source = ENTRENAR_SOURCE_DIR;
  const std::string tiny = dir + "/tiny";
  const auto trained = RunProcess(
      {entrenar, "train", source + "/examples/instruct.yaml", "--set", "training.max_steps=2",
       "--set", "model.architecture.max_seq_length=2048", "--output", tiny},
      "", 240);
  INFO(trained.err);
  REQUIRE(trained.exit_code == 0);
  const std::string root = dir + "/hub";
  const std::string model = root + "/models/meta-llama/Llama-2-7b";
  const std::string data = root + "/datasets/tatsu-lab/alpaca/data";
  std::filesystem::create_directories(model);
  std::filesystem::create_directories(data);
  for (const char* f : {"config.json", "tokenizer.json"})
    std::filesystem::copy_file(tiny + "/" + f, model + "/" + f);
  const auto sharded =
      RunProcess({"/usr/bin/python3", source + "/tests/formats/shard_safetensors.py",
                  tiny + "/model.safetensors", model, "2"});
  INFO(sharded.err);
  REQUIRE(sharded.exit_code == 0);
  std::ofstream(model + "/.gated") << "";
  DuckDbCopy(source + "/examples/data/instruct.jsonl",
             data + "/train-00000-of-00001-a09b74b3ef9c3b56.parquet", "snappy", "V1", 122880);
  return root;
}

// The arguments that train SPEC §11 (bench/data/spec_s11.yaml, the example verbatim) for one
// step, in bfloat16: the example's float16 needs a GPU (training refuses it on the CPU, as
// validate warns).
inline std::vector<std::string> Spec11Args() {
  return {std::string(ENTRENAR_SOURCE_DIR) + "/bench/data/spec_s11.yaml", "--set",
          "training.max_steps=1", "--set", "model.dtype=bfloat16"};
}

}  // namespace entrenar::testing

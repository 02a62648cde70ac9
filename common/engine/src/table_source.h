// Reading and splitting tabular sources, shared by the feature data (dataset.cc) and the text
// data (text_data.cc) of a run. Internal to the engine.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/formats/table.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// Reads `path` (the value of manifest key `key`) relative to `base_dir` in data.format.
// Remote URIs are kUnimplemented ("not supported yet").
Result<formats::Table> LoadTable(const manifest::DataConfig& d, const std::string& base_dir,
                                 const std::string& key, const std::string& path);

// kInvalidArgument naming `key` when `column` is not in `t`, with a did-you-mean.
Status CheckColumn(const formats::Table& t, const std::string& column, const std::string& key);

// Deterministic Fisher-Yates (std::shuffle's algorithm is not specified across libraries).
void Shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng);

// Splits row indices 0..n-1 (n = strata.size()) into train/val/test by ratio, per stratum when
// `stratified`; each part sorted.
std::array<std::vector<std::size_t>, 3> SplitIndices(const std::vector<std::string>& strata,
                                                     const manifest::SplitConfig& s,
                                                     std::uint64_t seed, bool stratified);

}  // namespace entrenar::engine

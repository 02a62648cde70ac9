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
#include "entrenar/plan/split.h"

namespace entrenar::engine {

// Reading a data file (plan/split.h owns it, and the split arithmetic).
using plan::LoadTable;

// kInvalidArgument naming `key` when `column` is not in `t`, with a did-you-mean.
Status CheckColumn(const formats::Table& t, const std::string& column, const std::string& key);

// Deterministic Fisher-Yates (std::shuffle's algorithm is not specified across libraries).
void Shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng);

// Splits row indices 0..n-1 (n = strata.size()) into train/val/test by ratio, per stratum when
// `stratified` (the sizes of plan::SplitStratum for each stratum); each part sorted.
std::array<std::vector<std::size_t>, 3> SplitIndices(const std::vector<std::string>& strata,
                                                     const manifest::SplitConfig& s,
                                                     std::uint64_t seed, bool stratified);

}  // namespace entrenar::engine

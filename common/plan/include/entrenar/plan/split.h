#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/formats/table.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// Rows in each split.
struct SplitSizes {
  std::int64_t train = 0, val = 0, test = 0;
  bool operator==(const SplitSizes&) const = default;
};

// How the `rows` rows of one stratum are split by data.split's ratios: val and test take the
// floor of their share (with 1e-9 of slack, so 0.1 of 10 is 1), train takes the rest. A
// stratified split applies this to each class; the training data's rows follow it exactly.
SplitSizes SplitStratum(std::int64_t rows, const manifest::SplitConfig& s);

// The sum of SplitStratum over strata of these sizes.
SplitSizes SplitStrata(const std::vector<std::int64_t>& strata, const manifest::SplitConfig& s);

// `path` from a manifest, relative to `base_dir` (the manifest's folder); `file://` is stripped
// and other URLs are returned as they are.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

// The table of one data file (`key` names it in messages): kUnimplemented for remote data,
// otherwise as formats::ReadTable, the format from data.format or the file's extension, with
// the columns `choose` picks (all when unset).
Result<formats::Table> LoadTable(const manifest::DataConfig& d, const std::string& base_dir,
                                 const std::string& key, const std::string& path,
                                 const formats::ColumnChooser& choose = {});

// The rows of each split of a tabular manifest's data (data.source split by ratio, per class
// when stratified, or data.train/val/test), read from its files as training reads them.
// kNotFound / kInvalidArgument as the table readers return them; kUnimplemented for remote data.
Result<SplitSizes> CountSplits(const manifest::Manifest& m, const std::string& base_dir);

}  // namespace entrenar::plan

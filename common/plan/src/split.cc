#include "entrenar/plan/split.h"

#include <glob.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <tuple>

#include "entrenar/base/strings.h"
#include "entrenar/formats/table.h"
#include "entrenar/plan/images.h"
#include "entrenar/plan/support.h"

namespace entrenar::plan {

SplitSizes SplitStratum(std::int64_t rows, const manifest::SplitConfig& s) {
  const auto n = static_cast<double>(rows);
  SplitSizes out;
  out.val = static_cast<std::int64_t>(std::floor(n * s.val + 1e-9));
  out.test = static_cast<std::int64_t>(std::floor(n * s.test + 1e-9));
  out.train = rows - out.val - out.test;
  return out;
}

SplitSizes SplitStrata(const std::vector<std::int64_t>& strata, const manifest::SplitConfig& s) {
  SplitSizes out;
  for (std::int64_t rows : strata) {
    const SplitSizes one = SplitStratum(rows, s);
    out.train += one.train;
    out.val += one.val;
    out.test += one.test;
  }
  return out;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.find("://") != std::string::npos && path.rfind("file://", 0) != 0) return path;
  const std::string p = path.rfind("file://", 0) == 0 ? path.substr(7) : path;
  if (std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

namespace {

// The files a pattern (`data/train-*.parquet`) matches, sorted; kNotFound when none.
Result<std::vector<std::string>> Expand(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> files;
  if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  std::sort(files.begin(), files.end());
  if (files.empty()) return NotFound("no data file matches " + pattern);
  return files;
}

// The tables of several files as one: the same columns in each, rows in file order, numbered
// from 1 across them (the table is named by the pattern).
Result<formats::Table> ReadTables(const std::string& pattern, formats::TableFormat format,
                                  const formats::ColumnChooser& choose) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::vector<std::string> files, Expand(pattern));
  formats::Table all;
  for (const std::string& f : files) {
    ENTRENAR_ASSIGN_OR_RETURN(formats::Table t, formats::ReadTable(f, format, choose));
    if (all.columns.empty()) {
      all.columns = t.columns;
    } else if (t.columns != all.columns) {
      return InvalidArgument(f + ": its columns (" + JoinQuoted(t.columns) + ") are not those of " +
                             files[0] + " (" + JoinQuoted(all.columns) + ")");
    }
    for (auto& row : t.rows) all.rows.push_back(std::move(row));
  }
  all.file = pattern;
  all.row_lines.resize(all.rows.size());
  for (std::size_t i = 0; i < all.rows.size(); ++i) all.row_lines[i] = static_cast<int>(i + 1);
  return all;
}

}  // namespace

Result<formats::Table> LoadTable(const manifest::DataConfig& d, const std::string& base_dir,
                                 const std::string& key, const std::string& path,
                                 const formats::ColumnChooser& choose) {
  if (path.find("://") != std::string::npos && path.rfind("file://", 0) != 0) {
    return Unimplemented(key + ": " + path +
                         " is fetched when the run starts (entrenar train, or "
                         "the job's worker); its rows are not known before");
  }
  const std::string local = ResolvePath(base_dir, path);
  const Result<formats::TableFormat> format = formats::ResolveTableFormat(d.format, path);
  std::error_code ec;
  if (!format.ok() && local.find_first_of("*?[") == std::string::npos &&
      !std::filesystem::exists(local, ec)) {
    return NotFound(key + ": " + local + ": no such file or folder");
  }
  if (!format.ok()) return format.status();
  if (local.find_first_of("*?[") != std::string::npos) return ReadTables(local, *format, choose);
  return formats::ReadTable(local, *format, choose);
}

namespace {

std::int64_t Rows(const formats::Table& t) { return static_cast<std::int64_t>(t.rows.size()); }

}  // namespace

namespace {

// CountSplits of an image data set: a folder is listed, idx and CIFAR files are read.
Result<SplitSizes> CountImageSplits(const manifest::DataConfig& d, const std::string& base_dir) {
  SplitSizes out;
  if (d.train || d.val || d.test) {
    for (const auto& [key, path, n] : {std::tuple{"data.train", d.train, &out.train},
                                       {"data.val", d.val, &out.val},
                                       {"data.test", d.test, &out.test}}) {
      if (!path) continue;
      ENTRENAR_ASSIGN_OR_RETURN(const image::ImageSet set, LoadImages(d, base_dir, key, *path));
      *n = static_cast<std::int64_t>(set.size());
    }
    return out;
  }
  ENTRENAR_RETURN_IF_ERROR(CheckImageStratify(d));
  ENTRENAR_ASSIGN_OR_RETURN(const image::ImageSet set,
                            LoadImages(d, base_dir, "data.source", *d.source));
  const manifest::SplitConfig split = manifest::EffectiveSplit(d);
  if (!split.stratify) return SplitStratum(static_cast<std::int64_t>(set.size()), split);
  std::map<int, std::int64_t> counts;
  for (int label : set.labels) ++counts[label];
  std::vector<std::int64_t> strata;
  for (const auto& [label, n] : counts) strata.push_back(n);
  return SplitStrata(strata, split);
}

}  // namespace

Result<SplitSizes> CountSplits(const manifest::Manifest& m, const std::string& base_dir) {
  const manifest::DataConfig& d = m.data;
  if (!d.source && !d.train) return InvalidArgument("data: no data to train on");
  if (ImageFormat(d, base_dir)) return CountImageSplits(d, base_dir);
  const bool explicit_files = d.train || d.val || d.test;
  if (explicit_files) {
    SplitSizes out;
    ENTRENAR_ASSIGN_OR_RETURN(formats::Table train, LoadTable(d, base_dir, "data.train", *d.train));
    out.train = Rows(train);
    if (d.val) {
      ENTRENAR_ASSIGN_OR_RETURN(formats::Table val, LoadTable(d, base_dir, "data.val", *d.val));
      out.val = Rows(val);
    }
    if (d.test) {
      ENTRENAR_ASSIGN_OR_RETURN(formats::Table test, LoadTable(d, base_dir, "data.test", *d.test));
      out.test = Rows(test);
    }
    return out;
  }
  ENTRENAR_ASSIGN_OR_RETURN(formats::Table t, LoadTable(d, base_dir, "data.source", *d.source));
  const manifest::SplitConfig split = manifest::EffectiveSplit(d);
  const std::optional<std::size_t> column =
      split.stratify ? t.ColumnIndex(*split.stratify) : std::nullopt;
  // Text is split by record, never stratified.
  if (!column || IsLanguageModel(m)) return SplitStratum(Rows(t), split);
  // Strata as training forms them: by the column's text, a missing value its own stratum.
  std::map<std::string, std::int64_t> counts;
  for (const auto& row : t.rows) ++counts[row[*column] ? *row[*column] : std::string()];
  std::vector<std::int64_t> strata;
  for (const auto& [value, n] : counts) strata.push_back(n);
  return SplitStrata(strata, split);
}

}  // namespace entrenar::plan

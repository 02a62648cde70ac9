#include "entrenar/engine/dataset.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>

#include "entrenar/base/strings.h"
#include "entrenar/expr/value.h"
#include "entrenar/formats/table.h"
#include "entrenar/plan/images.h"

#include "table_source.h"

namespace entrenar::engine {

using formats::Table;

// Deterministic Fisher-Yates (std::shuffle's algorithm is not specified across libraries).
void Shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng() % i]);
}

// Splits row indices 0..n-1 into train/val/test by ratio, per stratum when `strata` differ.
std::array<std::vector<std::size_t>, 3> SplitIndices(const std::vector<std::string>& strata,
                                                     const manifest::SplitConfig& s,
                                                     std::uint64_t seed, bool stratified) {
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < strata.size(); ++i) groups[stratified ? strata[i] : ""].push_back(i);
  std::mt19937_64 rng(seed);
  std::array<std::vector<std::size_t>, 3> out;
  for (auto& [key, idx] : groups) {
    Shuffle(idx, rng);
    const plan::SplitSizes sizes = plan::SplitStratum(static_cast<std::int64_t>(idx.size()), s);
    const auto n_val = static_cast<std::size_t>(sizes.val);
    const auto n_test = static_cast<std::size_t>(sizes.test);
    for (std::size_t i = 0; i < idx.size(); ++i) {
      const int part = i < n_val ? 1 : i < n_val + n_test ? 2 : 0;
      out[static_cast<std::size_t>(part)].push_back(idx[i]);
    }
  }
  for (auto& part : out) std::sort(part.begin(), part.end());
  return out;
}

Status CheckColumn(const Table& t, const std::string& column, const std::string& key) {
  if (t.ColumnIndex(column)) return OkStatus();
  const std::string dym = DidYouMean(Suggest(column, t.columns));
  return InvalidArgument(key + ": column `" + column + "` is not in " + t.file + " (" +
                         (dym.empty() ? "columns: " + JoinQuoted(t.columns) : dym) + ")");
}

namespace {

// Rows read from one file: raw feature cells, raw target text, stratification key, and where
// each row came from (file:line) for messages.
struct Rows {
  std::vector<std::vector<std::optional<std::string>>> cells;
  std::vector<std::string> target;
  std::vector<std::string> strata;
  std::vector<std::string> where;
};

std::vector<std::string> DroppedColumns(const manifest::DataConfig& d) {
  std::vector<std::string> out;
  for (const auto& step : d.preprocessing) {
    if (step.drop) out.insert(out.end(), step.drop->columns.begin(), step.drop->columns.end());
  }
  return out;
}

Result<Rows> ToRows(const Table& t, const std::vector<std::string>& features,
                    const std::string& target, const std::optional<std::string>& stratify) {
  Rows r;
  std::vector<std::size_t> cols;
  const formats::ColumnLookup lookup(t.columns);
  for (const std::string& f : features) {
    const auto idx = lookup.Find(f);
    if (!idx)
      return InvalidArgument(t.file + ": column `" + f + "` is missing (the first file has it)");
    cols.push_back(*idx);
  }
  const std::size_t tcol = *t.ColumnIndex(target);
  const std::optional<std::size_t> found = stratify ? t.ColumnIndex(*stratify) : std::nullopt;
  const bool has_strata = found.has_value();
  const std::size_t scol = found.value_or(0);
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto& row = t.rows[i];
    const std::string where = t.file + ":" + std::to_string(t.row_lines[i]);
    if (!row[tcol]) return InvalidArgument(where + ": the target `" + target + "` is missing");
    std::vector<std::optional<std::string>> cells;
    cells.reserve(cols.size());
    for (std::size_t c : cols) cells.push_back(row[c]);
    r.cells.push_back(std::move(cells));
    r.target.push_back(*row[tcol]);
    r.strata.push_back(has_strata && row[scol] ? *row[scol] : "");
    r.where.push_back(where);
  }
  return r;
}

bool IsInteger(double v) { return std::floor(v) == v && std::fabs(v) < 1e15; }

// Decides the task and maps target text to classes or values.
Status MapTargets(const manifest::Manifest& m, const std::vector<Rows*>& all, PreparedData* out) {
  const std::string& loss = m.training.loss;
  bool numeric = true, integral = true;
  std::set<std::string> words;
  std::set<double> values;
  for (const Rows* r : all) {
    for (const std::string& t : r->target) {
      const std::optional<double> v = formats::ParseNumber(t);
      if (!v) {
        numeric = false;
        words.insert(t);
      } else {
        integral = integral && IsInteger(*v);
        values.insert(*v);
      }
    }
  }
  const bool regression =
      loss == "mse" || loss == "l1" || loss == "huber" || (loss == "auto" && numeric && !integral);
  if (regression) {
    if (!numeric) {
      return InvalidArgument("training.loss: " + loss + " needs a numeric target, but `" +
                             out->target + "` holds words such as `" + *words.begin() + "`");
    }
    out->task = Task::kRegression;
    return OkStatus();
  }
  out->task = Task::kClassification;
  if (numeric) {
    if (!integral) {
      return InvalidArgument("training.loss: " + loss + " needs class labels, but `" + out->target +
                             "` holds fractional numbers");
    }
    for (double v : values) out->classes.push_back(std::to_string(static_cast<long long>(v)));
  } else {
    for (double v : values) words.insert(std::to_string(static_cast<long long>(v)));
    out->classes.assign(words.begin(), words.end());
  }
  if (out->classes.size() < 2) {
    return InvalidArgument("the target `" + out->target +
                           "` has a single class; a classifier needs two or more");
  }
  return OkStatus();
}

float TargetValue(const PreparedData& d, const std::string& text) {
  if (d.task == Task::kRegression) return static_cast<float>(*formats::ParseNumber(text));
  std::string key = text;
  if (const std::optional<double> v = formats::ParseNumber(text)) {
    key = std::to_string(static_cast<long long>(*v));
  }
  const auto it = std::find(d.classes.begin(), d.classes.end(), key);
  return static_cast<float>(it - d.classes.begin());
}

// One split before featurization: raw cells, targets and origins.
struct RawSplit {
  std::vector<std::vector<std::optional<std::string>>> cells;
  std::vector<float> y;
  std::vector<std::string> where;
};

RawSplit Subset(const PreparedData& d, const Rows& r, const std::vector<std::size_t>& idx) {
  RawSplit s;
  for (std::size_t i : idx) {
    s.cells.push_back(r.cells[i]);
    s.y.push_back(TargetValue(d, r.target[i]));
    s.where.push_back(r.where[i]);
  }
  return s;
}

std::vector<std::size_t> AllRows(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

double Quantile(std::vector<double> v, double q);

std::optional<std::size_t> FindColumn(const std::vector<std::string>& columns,
                                      const std::string& c) {
  const auto it = std::find(columns.begin(), columns.end(), c);
  if (it == columns.end()) return std::nullopt;
  return static_cast<std::size_t>(it - columns.begin());
}

Status UnknownColumn(const std::string& step, const std::string& column,
                     const std::vector<std::string>& columns) {
  const std::string dym = DidYouMean(Suggest(column, columns));
  return InvalidArgument("data.preprocessing." + step + ": `" + column +
                         "` is not a feature column" + (dym.empty() ? "" : "; " + dym));
}

std::string MostFrequent(const std::vector<std::string>& values) {
  std::map<std::string, std::size_t> counts;
  for (const std::string& v : values) ++counts[v];
  std::string best;
  std::size_t n = 0;
  for (const auto& [v, c] : counts) {
    if (c > n) best = v, n = c;  // ties: the smallest value, deterministically
  }
  return best;
}

// fillna: fits one value per column on the training split and fills every split.
Status FillMissing(const manifest::FillnaStep& step, const std::vector<std::string>& columns,
                   std::array<RawSplit*, 3> splits, PreparedData* d) {
  const std::vector<std::string> cols = step.columns.value_or(columns);
  for (const std::string& col : cols) {
    const std::optional<std::size_t> c = FindColumn(columns, col);
    if (!c) return UnknownColumn("fillna", col, columns);
    std::vector<std::string> present;
    for (const auto& row : splits[0]->cells) {
      if (row[*c]) present.push_back(*row[*c]);
    }
    std::string value;
    if (step.strategy == "constant") {
      value = step.value->number ? expr::FormatDouble(*step.value->number) : step.value->word;
    } else if (step.strategy == "mode") {
      if (present.empty())
        return InvalidArgument("data.preprocessing.fillna: `" + col +
                               "` has no values in the training split");
      value = MostFrequent(present);
    } else {
      std::vector<double> numbers;
      for (const std::string& v : present) {
        const std::optional<double> x = formats::ParseNumber(v);
        if (!x) {
          return InvalidArgument("data.preprocessing.fillna: `" + col + "` holds `" + v +
                                 "`; the " + step.strategy +
                                 " strategy needs numbers (use mode or constant)");
        }
        numbers.push_back(*x);
      }
      if (numbers.empty())
        return InvalidArgument("data.preprocessing.fillna: `" + col +
                               "` has no values in the training split");
      double v = 0;
      if (step.strategy == "mean") {
        for (double x : numbers) v += x / static_cast<double>(numbers.size());
      } else {
        v = Quantile(numbers, 0.5);
      }
      value = expr::FormatDouble(v);
    }
    for (RawSplit* s : splits) {
      for (auto& row : s->cells) {
        if (!row[*c]) row[*c] = value;
      }
    }
    d->fills.push_back({col, step.strategy, value});
  }
  return OkStatus();
}

// encode: fits the categories on the training split; replaces the column in every split.
Status EncodeColumns(const manifest::EncodeStep& step, std::vector<std::string>& columns,
                     std::array<RawSplit*, 3> splits, PreparedData* d) {
  for (const std::string& col : step.columns) {
    const std::optional<std::size_t> c = FindColumn(columns, col);
    if (!c) return UnknownColumn("encode", col, columns);
    Encoding e{col, step.method, {}};
    for (std::size_t i = 0; i < splits[0]->cells.size(); ++i) {
      const auto& cell = splits[0]->cells[i][*c];
      if (!cell) {
        return InvalidArgument(splits[0]->where[i] + ": column `" + col +
                               "` has a missing value; fill it first with a `fillna` step");
      }
      if (std::find(e.categories.begin(), e.categories.end(), *cell) == e.categories.end()) {
        e.categories.push_back(*cell);
      }
    }
    if (e.method == "ordinal") std::sort(e.categories.begin(), e.categories.end());
    auto code = [&](const std::optional<std::string>& cell) {
      const auto it =
          cell ? std::find(e.categories.begin(), e.categories.end(), *cell) : e.categories.end();
      return static_cast<std::size_t>(it - e.categories.begin());  // unseen: categories.size()
    };
    if (e.method == "onehot") {
      std::vector<std::string> names;
      for (const std::string& cat : e.categories) names.push_back(col + "=" + cat);
      for (RawSplit* s : splits) {
        for (auto& row : s->cells) {
          const std::size_t k = code(row[*c]);
          std::vector<std::optional<std::string>> hot(e.categories.size(), std::string("0"));
          if (k < hot.size()) hot[k] = "1";
          row.erase(row.begin() + static_cast<long>(*c));
          row.insert(row.begin() + static_cast<long>(*c), hot.begin(), hot.end());
        }
      }
      columns.erase(columns.begin() + static_cast<long>(*c));
      columns.insert(columns.begin() + static_cast<long>(*c), names.begin(), names.end());
    } else {
      for (RawSplit* s : splits) {
        for (auto& row : s->cells) row[*c] = std::to_string(code(row[*c]));
      }
    }
    d->encodings.push_back(std::move(e));
  }
  return OkStatus();
}

// Converts every cell to a number, naming the file and line of the first that is not one.
Result<Split> ToNumbers(const RawSplit& raw, const std::vector<std::string>& columns) {
  Split s;
  s.rows = static_cast<std::int64_t>(raw.cells.size());
  s.y = raw.y;
  s.x.reserve(raw.cells.size() * columns.size());
  for (std::size_t i = 0; i < raw.cells.size(); ++i) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto& cell = raw.cells[i][c];
      if (!cell) {
        return InvalidArgument(raw.where[i] + ": column `" + columns[c] +
                               "` has a missing value (fill it with a `fillna` step, or drop the "
                               "column)");
      }
      const std::optional<double> v = formats::ParseNumber(*cell);
      if (!v) {
        return InvalidArgument(raw.where[i] + ": column `" + columns[c] + "` holds `" + *cell +
                               "`, not a number (encode it with an `encode` step, or drop it)");
      }
      s.x.push_back(static_cast<float>(*v));
    }
  }
  return s;
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Fits each normalize step on the training split and applies it to every split.
Status Normalize(const manifest::DataConfig& cfg, PreparedData* d) {
  const std::size_t f = d->features.size();
  for (const auto& step : cfg.preprocessing) {
    if (!step.normalize) continue;
    const std::vector<std::string> cols = step.normalize->columns.value_or(d->features);
    const formats::ColumnLookup features(d->features);
    for (const std::string& col : cols) {
      const std::optional<std::size_t> found = features.Find(col);
      if (!found) {
        const std::string dym = DidYouMean(Suggest(col, d->features));
        return InvalidArgument("data.preprocessing.normalize: `" + col +
                               "` is not a feature column" + (dym.empty() ? "" : "; " + dym));
      }
      const std::size_t c = *found;
      std::vector<double> v;
      for (std::int64_t r = 0; r < d->train.rows; ++r)
        v.push_back(d->train.x[static_cast<std::size_t>(r) * f + c]);
      ColumnScale s{col, step.normalize->method, 0, 1};
      if (s.method == "minmax") {
        const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
        s.shift = *lo;
        s.scale = *hi - *lo;
      } else if (s.method == "zscore") {
        double mean = 0, var = 0;
        for (double x : v) mean += x / static_cast<double>(v.size());
        for (double x : v) var += (x - mean) * (x - mean) / static_cast<double>(v.size());
        s.shift = mean;
        s.scale = std::sqrt(var);
      } else {
        s.shift = Quantile(v, 0.5);
        s.scale = Quantile(v, 0.75) - Quantile(v, 0.25);
      }
      if (!(s.scale > 1e-12)) s.scale = 1;  // a constant column stays centred, not divided by 0
      for (Split* split : {&d->train, &d->val, &d->test}) {
        for (std::int64_t r = 0; r < split->rows; ++r) {
          float& x = split->x[static_cast<std::size_t>(r) * f + c];
          x = static_cast<float>((x - s.shift) / s.scale);
        }
      }
      d->scaling.push_back(s);
    }
  }
  return OkStatus();
}

// Deals the rows of `train` and `val` into folds and makes fold `f.index` the validation split.
void DealFold(const Fold& f, std::uint64_t seed, bool classification, RawSplit* train,
              RawSplit* val) {
  RawSplit pool = std::move(*train);
  pool.cells.insert(pool.cells.end(), val->cells.begin(), val->cells.end());
  pool.y.insert(pool.y.end(), val->y.begin(), val->y.end());
  pool.where.insert(pool.where.end(), val->where.begin(), val->where.end());
  std::map<float, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < pool.y.size(); ++i) {
    groups[f.stratified && classification ? pool.y[i] : 0.0F].push_back(i);
  }
  std::mt19937_64 rng(seed);
  std::vector<bool> held(pool.y.size(), false);
  std::size_t dealt = 0;  // continues across classes so every fold gets its share
  for (auto& [key, idx] : groups) {
    if (f.shuffle) Shuffle(idx, rng);
    for (std::size_t i : idx) {
      held[i] = static_cast<std::int64_t>(dealt++ % static_cast<std::size_t>(f.count)) == f.index;
    }
  }
  *train = RawSplit();
  *val = RawSplit();
  for (std::size_t i = 0; i < pool.y.size(); ++i) {
    RawSplit* to = held[i] ? val : train;
    to->cells.push_back(std::move(pool.cells[i]));
    to->y.push_back(pool.y[i]);
    to->where.push_back(std::move(pool.where[i]));
  }
}

}  // namespace

Result<PreparedData> PrepareData(const manifest::Manifest& m, const std::string& base_dir,
                                 std::uint64_t seed) {
  return PrepareData(m, base_dir, seed, Fold{0, 1, false, false});
}

Result<PreparedData> PrepareData(const manifest::Manifest& m, const std::string& base_dir,
                                 std::uint64_t seed, const Fold& fold) {
  const manifest::DataConfig& d = m.data;
  if (!d.source && !d.train) {
    return InvalidArgument("data: no data to train on; set data.source (or data.train)");
  }
  if (plan::ImageFormat(d, base_dir)) {
    if (fold.count > 1) {
      return InvalidArgument(
          "training.validation.cross_validation: not supported yet with image data; validate "
          "on a held-out split (data.split) instead");
    }
    return PrepareImages(m, base_dir, seed,
                         static_cast<int>(std::max<std::int64_t>(1, d.loader.num_workers)));
  }
  PreparedData out;
  out.target = d.target;
  const std::string first_key = d.source ? "data.source" : "data.train";
  const std::vector<std::string> dropped = DroppedColumns(d);
  // A Parquet file's dropped columns are not read at all (its columns are kept to check the
  // names in drop).
  std::optional<std::vector<std::string>> file_columns;
  const formats::ColumnChooser choose = [&](const std::vector<std::string>& have) {
    file_columns = have;
    if (dropped.empty()) return std::vector<std::string>{};
    std::vector<std::string> kept;
    for (const std::string& c : have) {
      if (std::find(dropped.begin(), dropped.end(), c) == dropped.end()) kept.push_back(c);
    }
    return kept;
  };
  ENTRENAR_ASSIGN_OR_RETURN(
      Table first, LoadTable(d, base_dir, first_key, d.source ? *d.source : *d.train, choose));
  ENTRENAR_RETURN_IF_ERROR(CheckColumn(first, d.target, "data.target"));
  for (const std::string& c : dropped) {
    const bool skipped = file_columns && std::find(file_columns->begin(), file_columns->end(), c) !=
                                             file_columns->end();
    if (!skipped) ENTRENAR_RETURN_IF_ERROR(CheckColumn(first, c, "data.preprocessing.drop"));
  }
  const manifest::SplitConfig split = manifest::EffectiveSplit(d);
  std::optional<std::string> stratify = split.stratify;
  if (stratify) ENTRENAR_RETURN_IF_ERROR(CheckColumn(first, *stratify, "data.split.stratify"));
  for (const std::string& c : first.columns) {
    if (c != d.target && std::find(dropped.begin(), dropped.end(), c) == dropped.end()) {
      out.features.push_back(c);
    }
  }
  if (out.features.empty())
    return InvalidArgument("data: no feature columns are left besides the target");

  ENTRENAR_ASSIGN_OR_RETURN(Rows main_rows, ToRows(first, out.features, d.target, stratify));
  std::optional<Rows> val_rows, test_rows;
  if (d.val) {
    ENTRENAR_ASSIGN_OR_RETURN(Table t, LoadTable(d, base_dir, "data.val", *d.val));
    ENTRENAR_RETURN_IF_ERROR(CheckColumn(t, d.target, "data.target"));
    ENTRENAR_ASSIGN_OR_RETURN(val_rows, ToRows(t, out.features, d.target, std::nullopt));
  }
  if (d.test) {
    ENTRENAR_ASSIGN_OR_RETURN(Table t, LoadTable(d, base_dir, "data.test", *d.test));
    ENTRENAR_RETURN_IF_ERROR(CheckColumn(t, d.target, "data.target"));
    ENTRENAR_ASSIGN_OR_RETURN(test_rows, ToRows(t, out.features, d.target, std::nullopt));
  }
  std::vector<Rows*> all = {&main_rows};
  if (val_rows) all.push_back(&*val_rows);
  if (test_rows) all.push_back(&*test_rows);
  ENTRENAR_RETURN_IF_ERROR(MapTargets(m, all, &out));

  out.split_seed = split.seed ? static_cast<std::uint64_t>(*split.seed) : seed;
  const bool explicit_files = d.train || d.val || d.test;
  RawSplit train, val, test;
  if (!explicit_files) {
    const auto parts = SplitIndices(main_rows.strata, split, out.split_seed, stratify.has_value());
    train = Subset(out, main_rows, parts[0]);
    val = Subset(out, main_rows, parts[1]);
    test = Subset(out, main_rows, parts[2]);
  } else {
    train = Subset(out, main_rows, AllRows(main_rows.target.size()));
    if (val_rows) val = Subset(out, *val_rows, AllRows(val_rows->target.size()));
    if (test_rows) test = Subset(out, *test_rows, AllRows(test_rows->target.size()));
  }
  if (fold.count > 1) {
    DealFold(fold, out.split_seed, out.task == Task::kClassification, &train, &val);
  }
  if (train.cells.empty()) return InvalidArgument("data.split: the training split is empty");
  for (const auto& step : d.preprocessing) {
    if (step.fillna)
      ENTRENAR_RETURN_IF_ERROR(
          FillMissing(*step.fillna, out.features, {&train, &val, &test}, &out));
    if (step.encode)
      ENTRENAR_RETURN_IF_ERROR(
          EncodeColumns(*step.encode, out.features, {&train, &val, &test}, &out));
  }
  ENTRENAR_ASSIGN_OR_RETURN(out.train, ToNumbers(train, out.features));
  ENTRENAR_ASSIGN_OR_RETURN(out.val, ToNumbers(val, out.features));
  ENTRENAR_ASSIGN_OR_RETURN(out.test, ToNumbers(test, out.features));
  if (out.train.rows == 0) return InvalidArgument("data.split: the training split is empty");
  ENTRENAR_RETURN_IF_ERROR(Normalize(d, &out));
  return out;
}

}  // namespace entrenar::engine

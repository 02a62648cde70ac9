#include "entrenar/engine/dataset.h"

#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"
#include "temp_dir.h"

namespace entrenar::engine {
namespace {

const std::string kData = std::string(ENTRENAR_SOURCE_DIR) + "/examples/data";

manifest::Manifest Manifest(const std::string& body) {
  manifest::LoadResult r = testing::Load(testing::Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  return *r.manifest;
}

std::map<float, int> Counts(const Split& s) {
  std::map<float, int> c;
  for (float y : s.y) ++c[y];
  return c;
}

TEST_CASE("Digits are split by ratio, stratified, with every row used once", "[unit][engine]") {
  const manifest::Manifest m = Manifest(
      "data:\n  source: digits.csv\n  split: {train: 0.8, val: 0.1, test: 0.1, stratify: label}\n");
  Result<PreparedData> d = PrepareData(m, kData, 42);
  REQUIRE(d.ok());
  CHECK(d->task == Task::kClassification);
  CHECK(d->NumFeatures() == 64);
  CHECK(d->classes.size() == 10);
  CHECK(d->train.rows + d->val.rows + d->test.rows == 1797);
  // Stratified: every class keeps floor(10%) of its rows in val.
  const std::map<float, int> all = [&] {
    std::map<float, int> c = Counts(d->train);
    for (const auto& [k, v] : Counts(d->val)) c[k] += v;
    for (const auto& [k, v] : Counts(d->test)) c[k] += v;
    return c;
  }();
  const std::map<float, int> val = Counts(d->val);
  for (const auto& [cls, n] : all) CHECK(val.at(cls) == n / 10);
}

TEST_CASE("The split depends on the seed, and only on it", "[unit][engine]") {
  const manifest::Manifest m = Manifest("data:\n  source: iris.csv\n  target: species\n");
  Result<PreparedData> a = PrepareData(m, kData, 1), b = PrepareData(m, kData, 1),
                       c = PrepareData(m, kData, 2);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->train.x == b->train.x);
  CHECK(a->train.x != c->train.x);
  CHECK(a->classes == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  // data.split.seed wins over the run's seed.
  const manifest::Manifest seeded = Manifest(
      "data:\n  source: iris.csv\n  target: species\n  split: {train: 0.8, val: 0.2, seed: 7}\n");
  CHECK(PrepareData(seeded, kData, 1)->train.x == PrepareData(seeded, kData, 2)->train.x);
}

TEST_CASE("Normalization is fitted on the training split only", "[unit][engine]") {
  const manifest::Manifest m =
      Manifest("data:\n  source: wine.csv\n  preprocessing:\n    - normalize: {method: minmax}\n");
  Result<PreparedData> d = PrepareData(m, kData, 3);
  REQUIRE(d.ok());
  const std::size_t f = static_cast<std::size_t>(d->NumFeatures());
  REQUIRE(d->scaling.size() == f);
  for (std::size_t c = 0; c < f; ++c) {
    float lo = 1e9f, hi = -1e9f;
    for (std::int64_t r = 0; r < d->train.rows; ++r) {
      lo = std::min(lo, d->train.x[static_cast<std::size_t>(r) * f + c]);
      hi = std::max(hi, d->train.x[static_cast<std::size_t>(r) * f + c]);
    }
    CHECK(lo == Approx(0.0).margin(1e-6));
    CHECK(hi == Approx(1.0).margin(1e-6));
  }
  const manifest::Manifest z = Manifest(
      "data:\n  source: wine.csv\n  preprocessing:\n    - normalize: {method: zscore, columns: "
      "[alcohol]}\n");
  Result<PreparedData> zd = PrepareData(z, kData, 3);
  REQUIRE(zd.ok());
  REQUIRE(zd->scaling.size() == 1);
  double mean = 0;
  for (std::int64_t r = 0; r < zd->train.rows; ++r) {
    mean += zd->train.x[static_cast<std::size_t>(r) * f] / static_cast<double>(zd->train.rows);
  }
  CHECK(mean == Approx(0.0).margin(1e-5));
}

TEST_CASE("A float target makes a regression task and drop removes columns", "[unit][engine]") {
  testing::TempDir dir;
  std::ofstream(dir.path + "/r.csv")
      << "a,b,id,y\n1,2,9,0.5\n2,3,8,1.5\n3,4,7,2.5\n4,5,6,3.5\n5,6,5,4.5\n";
  const manifest::Manifest m = Manifest(
      "data:\n  source: r.csv\n  target: y\n  split: {train: 0.6, val: 0.2, test: 0.2}\n"
      "  preprocessing:\n    - drop: {columns: [id]}\n");
  Result<PreparedData> d = PrepareData(m, dir.path, 1);
  REQUIRE(d.ok());
  CHECK(d->task == Task::kRegression);
  CHECK(d->features == std::vector<std::string>{"a", "b"});
  CHECK(d->train.rows == 3);
}

TEST_CASE("fillna and encode are fitted on the training split", "[unit][engine]") {
  testing::TempDir dir;
  std::ofstream(dir.path + "/c.csv") << "size,color,grade,label\n"
                                        "1,red,b,0\n"
                                        ",blue,a,1\n"
                                        "3,red,c,0\n"
                                        "5,,a,1\n";
  const manifest::Manifest m = Manifest(
      "data:\n  train: c.csv\n  preprocessing:\n"
      "    - fillna: {strategy: mean, columns: [size]}\n"
      "    - fillna: {strategy: mode, columns: [color]}\n"
      "    - encode: {columns: [color], method: onehot}\n"
      "    - encode: {columns: [grade], method: ordinal}\n");
  Result<PreparedData> d = PrepareData(m, dir.path, 1);
  INFO(d.status().message());
  REQUIRE(d.ok());
  CHECK(d->features == std::vector<std::string>{"size", "color=red", "color=blue", "grade"});
  REQUIRE(d->fills.size() == 2);
  CHECK(d->fills[0].value == "3.0");  // mean of 1, 3, 5
  CHECK(d->fills[1].value == "red");  // the most frequent colour
  REQUIRE(d->encodings.size() == 2);
  CHECK(d->encodings[0].categories == std::vector<std::string>{"red", "blue"});  // first seen
  CHECK(d->encodings[1].categories == std::vector<std::string>{"a", "b", "c"});  // sorted
  // Row 2: size filled with 3, blue -> [0, 1], grade a -> 0.
  CHECK(std::vector<float>(d->train.x.begin() + 4, d->train.x.begin() + 8) ==
        std::vector<float>{3, 0, 1, 0});
  // Row 4: colour filled with red -> [1, 0].
  CHECK(std::vector<float>(d->train.x.begin() + 12, d->train.x.begin() + 16) ==
        std::vector<float>{5, 1, 0, 0});
  const manifest::Manifest bad =
      Manifest("data:\n  train: c.csv\n  preprocessing:\n    - encode: {columns: [colour]}\n");
  CHECK(PrepareData(bad, dir.path, 1).status().message().find("did you mean `color`?") !=
        std::string::npos);
}

TEST_CASE("Bad data is reported with the file and line", "[unit][engine]") {
  testing::TempDir dir;
  std::ofstream(dir.path + "/bad.csv") << "a,label\n1,0\nx,1\n";
  std::ofstream(dir.path + "/gap.csv") << "a,label\n1,0\n,1\n";
  auto error = [&](const std::string& body) {
    Result<PreparedData> d = PrepareData(Manifest(body), dir.path, 1);
    REQUIRE_FALSE(d.ok());
    return d.status().message();
  };
  CHECK(error("data:\n  source: bad.csv\n")
            .find(dir.path + "/bad.csv:3: column `a` holds `x`, not a number") !=
        std::string::npos);
  CHECK(error("data:\n  source: gap.csv\n").find("gap.csv:3: column `a` has a missing value") !=
        std::string::npos);
  CHECK(error("data:\n  source: bad.csv\n  target: lable\n").find("did you mean `label`?") !=
        std::string::npos);
  Result<PreparedData> missing = PrepareData(Manifest("data:\n  source: none.csv\n"), dir.path, 1);
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("Cross-validation folds deal the train and val rows, stratified, each once",
          "[unit][engine]") {
  const manifest::Manifest m = Manifest(
      "data:\n  source: iris.csv\n  target: species\n"
      "  split: {train: 0.7, val: 0.1, test: 0.2, stratify: species}\n"
      "  preprocessing:\n    - normalize: {columns: [sepal_length], method: zscore}\n");
  Result<PreparedData> plain = PrepareData(m, kData, 3);
  REQUIRE(plain.ok());
  const std::int64_t pool = plain->train.rows + plain->val.rows;
  std::multiset<float> seen_targets;
  std::int64_t val_rows = 0;
  std::set<double> shifts;
  for (std::int64_t k = 0; k < 4; ++k) {
    Result<PreparedData> d = PrepareData(m, kData, 3, Fold{k, 4, true, true});
    REQUIRE(d.ok());
    CHECK(d->train.rows + d->val.rows == pool);
    CHECK(d->test.y == plain->test.y);  // the test split is never dealt
    CHECK(d->test.rows == plain->test.rows);
    val_rows += d->val.rows;
    // Stratified: each class has about a quarter of its pool rows in every fold.
    for (const auto& [cls, n] : Counts(d->val)) CHECK(n >= 7);
    for (float y : d->val.y) seen_targets.insert(y);
    // Preprocessing is fitted on each fold's own training rows.
    shifts.insert(d->scaling.at(0).shift);
  }
  CHECK(val_rows == pool);  // every pool row is validated exactly once
  CHECK(static_cast<std::int64_t>(seen_targets.size()) == pool);
  CHECK(shifts.size() == 4);
  // Same seed, same folds.
  Result<PreparedData> again = PrepareData(m, kData, 3, Fold{1, 4, true, true});
  Result<PreparedData> once = PrepareData(m, kData, 3, Fold{1, 4, true, true});
  CHECK(again->val.x == once->val.x);
}

}  // namespace
}  // namespace entrenar::engine

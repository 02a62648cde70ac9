// The torch-free plan core: split sizes, budgets and parameter counts.
#include <algorithm>

#include <catch2/catch.hpp>

#include "entrenar/plan/budget.h"
#include "entrenar/plan/params.h"
#include "entrenar/plan/split.h"

#include "manifest_helpers.h"

namespace entrenar::plan {
namespace {

manifest::Manifest Load(const std::string& body, std::vector<std::string> sets = {}) {
  return testing::LoadValid(body, std::move(sets));
}

const std::string kModel =
    "model:\n  architecture:\n    type: sequential\n    layers:\n"
    "      - linear: {in_features: 64, out_features: 128}\n"
    "      - activation: relu\n"
    "      - linear: {in_features: 128, out_features: 10}\n";

TEST_CASE("a stratum's val and test take the floor of their share, train the rest", "[plan]") {
  manifest::SplitConfig s;
  s.train = 0.7;
  s.val = 0.1;
  s.test = 0.2;
  CHECK(SplitStratum(10, s) == SplitSizes{7, 1, 2});
  CHECK(SplitStratum(9, s) == SplitSizes{8, 0, 1});  // 0.9 and 1.8 round down
  // Per class, the floors add up differently from the floor of the total.
  CHECK(SplitStrata({9, 9}, s) == SplitSizes{16, 0, 2});
  CHECK(SplitStratum(18, s) == SplitSizes{14, 1, 3});
}

TEST_CASE("the digits split is exact, per class when stratified", "[plan]") {
  const std::string digits = std::string(ENTRENAR_SOURCE_DIR) + "/examples/data/digits.csv";
  const std::string body = "data:\n  source: " + digits +
                           "\n  target: label\n  split: {train: 0.7, val: 0.1, test: 0.2, "
                           "stratify: label}\n" +
                           kModel;
  const Result<SplitSizes> stratified = CountSplits(Load(body), "");
  REQUIRE(stratified.ok());
  // The sizes training reports for this split (see e2e "plan agrees with training").
  CHECK(*stratified == SplitSizes{1266, 176, 355});
  const Result<SplitSizes> plain =
      CountSplits(Load("data:\n  source: " + digits +
                       "\n  target: label\n  split: {train: 0.7, val: 0.1, test: 0.2}\n" + kModel),
                  "");
  REQUIRE(plain.ok());
  CHECK(*plain == SplitSizes{1259, 179, 359});
}

TEST_CASE("a budget counts the loader's batches, then accumulation windows", "[plan]") {
  const std::string data =
      "data:\n  source: d.csv\n  target: y\n  loader: {batch_size: 32, "
      "drop_last: true}\n";
  manifest::Manifest m =
      Load(data + kModel + "training:\n  epochs: 3\n  gradient: {accumulation_steps: 2}\n");
  // 100 rows: 3 full batches (the 4th dropped), windows of 2 and 1.
  const Result<Budget> b = ComputeBudget(m, 100);
  REQUIRE(b.ok());
  CHECK(*b == Budget{3, 2, 3, 6});
  CHECK_FALSE(ComputeBudget(m, 31).ok());  // not one full batch
  m = Load(data + kModel + "training:\n  max_steps: 7\n");
  const Result<Budget> steps = ComputeBudget(m, 100);
  REQUIRE(steps.ok());
  CHECK(*steps == Budget{3, 3, 3, 7});  // ceil(7 / 3) epochs, the last one cut short
}

TEST_CASE("a data-parallel budget counts each rank's share of the rows", "[plan]") {
  const std::string data = "data:\n  source: d.csv\n  target: y\n  loader: {batch_size: 16}\n";
  const manifest::Manifest m =
      Load(data + kModel + "training:\n  epochs: 2\n  distributed: {world_size: 3}\n");
  CHECK(WorldSize(m) == 3);
  CHECK(WorldSize(Load(data + kModel)) == 1);
  // 100 rows on 3 ranks: 34 each (2 rows dealt twice), 3 batches of 16, 16 and 2.
  const Result<Budget> b = ComputeBudget(m, 100);
  REQUIRE(b.ok());
  CHECK(*b == Budget{3, 3, 2, 6});
  CHECK(RankRows(100, 3) == 34);
  CHECK(RankRows(100, 1) == 100);
  CHECK(RankRows(96, 3) == 32);
}

TEST_CASE("each rank takes every world_size-th row of the epoch's order, as DistributedSampler",
          "[plan]") {
  const std::vector<std::int64_t> order = {7, 3, 9, 0, 4, 8, 1};
  // Padded with its first rows to 9: 7 3 9 0 4 8 1 7 3.
  CHECK(RankShard(order, 0, 3) == std::vector<std::int64_t>{7, 0, 1});
  CHECK(RankShard(order, 1, 3) == std::vector<std::int64_t>{3, 4, 7});
  CHECK(RankShard(order, 2, 3) == std::vector<std::int64_t>{9, 8, 3});
  CHECK(RankShard(order, 0, 1) == order);
  // Two ranks' batch b of 2 hold the rows of one process's batch b of 4.
  const std::vector<std::int64_t> eight = {5, 2, 7, 1, 0, 6, 3, 4};
  const std::vector<std::int64_t> r0 = RankShard(eight, 0, 2), r1 = RankShard(eight, 1, 2);
  for (std::size_t b = 0; b < 2; ++b) {
    std::vector<std::int64_t> ranks = {r0[2 * b], r0[2 * b + 1], r1[2 * b], r1[2 * b + 1]};
    std::vector<std::int64_t> one(eight.begin() + 4 * b, eight.begin() + 4 * b + 4);
    std::sort(ranks.begin(), ranks.end());
    std::sort(one.begin(), one.end());
    CHECK(ranks == one);
  }
}

TEST_CASE("a time budget runs as many epochs as fit, its schedule over T_max", "[plan]") {
  // (A schedule that needs the run's length without T_max is refused by validate:
  // tests/data/manifests/invalid/scheduler_*_on_time_budget.yaml.)
  const std::string head = "data:\n  source: d.csv\n  target: y\n" + kModel;
  const manifest::Manifest with_t_max =
      Load(head + "scheduler: {name: cosine, T_max: 500}\ntraining:\n  duration: 1m\n");
  const Result<Budget> b = ComputeBudget(with_t_max, 64);
  REQUIRE(b.ok());
  CHECK(b->total_steps == 500);
  CHECK(b->epochs > 1000000);
  const manifest::Manifest plain = Load(head + "training:\n  duration: 1m\n");
  CHECK(plain.scheduler.name == "constant");  // the default schedule needs a length
  REQUIRE(ComputeBudget(plain, 64).ok());
}

TEST_CASE("parameters of a sequential model and a LLaMA decoder", "[plan]") {
  const manifest::Manifest m = Load("data:\n  source: d.csv\n  target: y\n" + kModel);
  CHECK(ModelParameters(*m.model.architecture) == 64.0 * 128 + 128 + 128 * 10 + 10);
  CHECK(DefaultIntermediateSize(64) == 192);      // 8/3 * 64 = 170, up to 192
  CHECK(DefaultIntermediateSize(4096) == 10944);  // LLaMA-7B's 11008 is given explicitly
}

}  // namespace
}  // namespace entrenar::plan

#include "entrenar/engine/metrics.h"

#include <algorithm>
#include <cmath>

namespace entrenar::engine {

std::vector<std::vector<std::int64_t>> ConfusionMatrix(const std::vector<std::int64_t>& predicted,
                                                       const std::vector<std::int64_t>& truth,
                                                       std::int64_t num_classes) {
  const auto k = static_cast<std::size_t>(num_classes);
  std::vector<std::vector<std::int64_t>> m(k, std::vector<std::int64_t>(k, 0));
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const auto t = static_cast<std::size_t>(truth[i]), p = static_cast<std::size_t>(predicted[i]);
    if (t < k && p < k) ++m[t][p];
  }
  return m;
}

std::map<std::string, double> ClassificationMetrics(const std::vector<std::int64_t>& predicted,
                                                    const std::vector<std::int64_t>& truth,
                                                    std::int64_t num_classes) {
  const auto m = ConfusionMatrix(predicted, truth, num_classes);
  double correct = 0, precision = 0, recall = 0, f1 = 0;
  int counted = 0;
  for (std::size_t c = 0; c < m.size(); ++c) {
    std::int64_t tp = m[c][c], actual = 0, called = 0;
    for (std::size_t o = 0; o < m.size(); ++o) {
      actual += m[c][o];
      called += m[o][c];
    }
    correct += static_cast<double>(tp);
    if (actual == 0 && called == 0) continue;
    const double p = called ? static_cast<double>(tp) / static_cast<double>(called) : 0;
    const double r = actual ? static_cast<double>(tp) / static_cast<double>(actual) : 0;
    precision += p;
    recall += r;
    f1 += (p + r) > 0 ? 2 * p * r / (p + r) : 0;
    ++counted;
  }
  const double n = static_cast<double>(truth.size());
  const double k = counted ? counted : 1;
  return {{"accuracy", n > 0 ? correct / n : 0},
          {"precision", precision / k},
          {"recall", recall / k},
          {"f1", f1 / k}};
}

namespace {

// Mann-Whitney AUC of `scores` for the samples where `positive` is true; nullopt without both.
std::optional<double> BinaryAuc(const std::vector<double>& scores,
                                const std::vector<bool>& positive) {
  std::vector<std::size_t> order(scores.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0, positives = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mid_rank =
        (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // ties share
    for (std::size_t k = i; k < j; ++k) {
      if (positive[order[k]]) {
        rank_sum += mid_rank;
        positives += 1;
      }
    }
    i = j;
  }
  const double negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nullopt;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

}  // namespace

std::optional<double> AucRoc(const std::vector<float>& probabilities,
                             const std::vector<std::int64_t>& truth, std::int64_t num_classes) {
  const auto k = static_cast<std::size_t>(num_classes);
  const std::size_t n = truth.size();
  auto one_vs_rest = [&](std::size_t c) {
    std::vector<double> scores(n);
    std::vector<bool> positive(n);
    for (std::size_t i = 0; i < n; ++i) {
      scores[i] = probabilities[i * k + c];
      positive[i] = static_cast<std::size_t>(truth[i]) == c;
    }
    return BinaryAuc(scores, positive);
  };
  if (k == 2) return one_vs_rest(1);
  double sum = 0;
  int counted = 0;
  for (std::size_t c = 0; c < k; ++c) {
    if (const std::optional<double> auc = one_vs_rest(c)) {
      sum += *auc;
      ++counted;
    }
  }
  if (counted == 0) return std::nullopt;
  return sum / counted;
}

std::map<std::string, double> RegressionMetrics(const std::vector<double>& predicted,
                                                const std::vector<double>& truth) {
  const double n = static_cast<double>(truth.size());
  if (truth.empty()) return {{"mse", 0}, {"rmse", 0}, {"mae", 0}, {"r2", 0}};
  double mean = 0;
  for (double t : truth) mean += t / n;
  double sse = 0, sst = 0, abs = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    const double e = predicted[i] - truth[i];
    sse += e * e;
    abs += std::fabs(e);
    sst += (truth[i] - mean) * (truth[i] - mean);
  }
  return {{"mse", sse / n},
          {"rmse", std::sqrt(sse / n)},
          {"mae", abs / n},
          {"r2", sst > 0 ? 1 - sse / sst : 0}};
}

}  // namespace entrenar::engine

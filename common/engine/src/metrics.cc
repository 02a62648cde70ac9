#include "entrenar/engine/metrics.h"

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

// The training quality score of SPEC §16: five components from a run's logged series.
#include "entrenar/monitor/quality.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace entrenar::monitor {
namespace {

double Clamp100(double v) { return std::clamp(v, 0.0, 100.0); }

std::vector<double> Finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v) {
    if (std::isfinite(x)) out.push_back(x);
  }
  return out;
}

double Mean(const std::vector<double>& v, std::size_t begin, std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += v[i];
  return end > begin ? sum / static_cast<double>(end - begin) : 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string Fixed(double v, int digits = 2) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

struct Ends {
  double first = 0, last = 0;
};

Ends LossEnds(const std::vector<double>& loss) {
  const std::size_t k = std::max<std::size_t>(1, loss.size() / 10);
  return {Mean(loss, 0, k), Mean(loss, loss.size() - k, loss.size())};
}

QualityComponent Convergence(const std::vector<double>& loss) {
  if (loss.size() < 2) return {std::nullopt, "fewer than 2 finite train_loss values"};
  const Ends e = LossEnds(loss);
  const double r = e.first != 0 ? (e.first - e.last) / std::abs(e.first) : 0;
  double smooth = 1;
  if (loss.size() >= 10) {
    int steady = 0;
    double previous = 0;
    for (std::size_t w = 0; w < 10; ++w) {
      const double m = Mean(loss, w * loss.size() / 10, (w + 1) * loss.size() / 10);
      if (w > 0 && m <= previous) ++steady;
      previous = m;
    }
    smooth = steady / 9.0;
  }
  return {Clamp100(100 * (0.7 * std::clamp(r, 0.0, 1.0) + 0.3 * smooth)),
          "train_loss " + Fixed(e.first, 4) + " → " + Fixed(e.last, 4) + ", smoothness " +
              Fixed(smooth)};
}

QualityComponent Stability(const QualityInput& in) {
  const bool grads = !in.grad_norm.empty();
  const std::vector<double> raw = Finite(grads ? in.grad_norm : in.train_loss);
  if (raw.size() < 4) return {std::nullopt, "fewer than 4 finite values"};
  // Means of windows of 1/50 of the run, so minibatch noise averages out and trends remain.
  const std::size_t width = std::max<std::size_t>(1, raw.size() / 50);
  std::vector<double> series;
  for (std::size_t i = 0; i + width <= raw.size(); i += width)
    series.push_back(Mean(raw, i, i + width));
  if (series.size() < 4) return {std::nullopt, "fewer than 4 windows"};
  const std::size_t half = series.size() / 2;
  std::vector<double> diffs;
  for (std::size_t i = half + 1; i < series.size(); ++i) diffs.push_back(series[i] - series[i - 1]);
  const double level = std::abs(Mean(series, half, series.size()));
  double var = 0;
  const double mean = Mean(diffs, 0, diffs.size());
  for (double d : diffs) var += (d - mean) * (d - mean);
  const double sd = std::sqrt(var / static_cast<double>(diffs.size()));
  const double cv = level > 0 ? sd / level : 0;
  const auto nonfinite =
      static_cast<std::int64_t>(in.train_loss.size() - Finite(in.train_loss).size());
  const double value =
      100 / (1 + cv) - 20.0 * static_cast<double>(nonfinite) - 5.0 * static_cast<double>(in.alerts);
  return {Clamp100(value), std::string(grads ? "grad_norm" : "train_loss") +
                               " step-to-step variation " + Fixed(cv, 3) + ", " +
                               std::to_string(nonfinite) + " non-finite losses, " +
                               std::to_string(in.alerts) + " alerts"};
}

QualityComponent Efficiency(const QualityInput& in) {
  const std::vector<double>& s = in.samples_per_second;
  const auto epoch = static_cast<std::size_t>(std::max<std::int64_t>(in.steps_per_epoch, 1));
  if (s.size() <= epoch) return {std::nullopt, "a single epoch: nothing to compare with"};
  const std::size_t skip = epoch > 6 ? 3 : 0;
  const double ref = Median(std::vector<double>(s.begin() + skip, s.begin() + epoch));
  const double rest = Median(std::vector<double>(s.begin() + epoch, s.end()));
  if (ref <= 0) return {std::nullopt, "no throughput in the first epoch"};
  const std::string what = in.step_work ? " (the steps' own work: validation, checkpoints and "
                                          "callbacks between steps not counted)"
                                        : " (the run's average so far)";
  return {Clamp100(100 * std::min(1.0, rest / ref)),
          Fixed(rest, 0) + " samples/s against " + Fixed(ref, 0) + " in the first epoch" + what};
}

QualityComponent Generalization(const QualityInput& in, const std::vector<double>& loss) {
  if (!in.val_loss || !std::isfinite(*in.val_loss) || loss.empty())
    return {std::nullopt, "no validation loss"};
  const Ends e = LossEnds(loss);
  const double gap = e.first != 0 ? std::max(0.0, *in.val_loss - e.last) / std::abs(e.first) : 0;
  return {Clamp100(100 * (1 - 5 * gap)),
          "val_loss " + Fixed(*in.val_loss, 4) + " against train_loss " + Fixed(e.last, 4)};
}

QualityComponent Reproducibility(const std::vector<double>& folds) {
  if (folds.size() < 2) return {std::nullopt, "not measured: needs cross-validation folds"};
  const double mean = Mean(folds, 0, folds.size());
  double var = 0;
  for (double f : folds) var += (f - mean) * (f - mean);
  const double sd = std::sqrt(var / static_cast<double>(folds.size()));
  if (mean == 0) return {std::nullopt, "the folds' mean score is 0"};
  return {Clamp100(100 * (1 - 10 * sd / std::abs(mean))),
          std::to_string(folds.size()) + " folds, " + Fixed(mean, 4) + " ± " + Fixed(sd, 4)};
}

}  // namespace

std::string Grade(double score) {
  static const std::pair<double, const char*> kGrades[] = {{95, "A+"}, {90, "A"}, {85, "A-"},
                                                           {80, "B+"}, {75, "B"}, {70, "B-"},
                                                           {65, "C+"}, {60, "C"}, {50, "D"}};
  for (const auto& [min, grade] : kGrades) {
    if (score >= min) return grade;
  }
  return "F";
}

QualityScore ComputeQuality(const QualityInput& in) {
  const std::vector<double> loss = Finite(in.train_loss);
  QualityScore q;
  q.components["convergence"] = Convergence(loss);
  q.components["stability"] = Stability(in);
  q.components["efficiency"] = Efficiency(in);
  q.components["generalization"] = Generalization(in, loss);
  q.components["reproducibility"] = Reproducibility(in.fold_scores);
  static const std::pair<const char*, double> kWeights[] = {{"convergence", 0.30},
                                                            {"stability", 0.20},
                                                            {"efficiency", 0.15},
                                                            {"generalization", 0.25},
                                                            {"reproducibility", 0.10}};
  double sum = 0, weights = 0;
  for (const auto& [name, w] : kWeights) {
    const auto& value = q.components[name].value;
    if (!value) continue;
    sum += w * *value;
    weights += w;
  }
  q.score = weights > 0 ? std::round(10 * sum / weights) / 10 : 0;
  q.grade = Grade(q.score);
  return q;
}

std::string QualityYaml(const QualityScore& q) {
  static const char* kOrder[] = {"convergence", "stability", "efficiency", "generalization",
                                 "reproducibility"};
  std::ostringstream out;
  out << "# Training quality score (SPEC §16); formulas: docs/training.md#quality-score\n";
  out << "quality:\n  score: " << Fixed(q.score, 1) << "\n  grade: \"" << q.grade << "\"\n";
  out << "  breakdown:\n";
  for (const char* name : kOrder) {
    const auto& c = q.components.at(name);
    out << "    " << name << ": " << (c.value ? Fixed(*c.value, 1) : "null") << "\n";
  }
  out << "  basis:\n";
  for (const char* name : kOrder) {
    std::string basis = q.components.at(name).basis;
    std::string escaped;
    for (char ch : basis) {
      if (ch == '"' || ch == '\\') escaped += '\\';
      escaped += ch;
    }
    out << "    " << name << ": \"" << escaped << "\"\n";
  }
  return out.str();
}

}  // namespace entrenar::monitor

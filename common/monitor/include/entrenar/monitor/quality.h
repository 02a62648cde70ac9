#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace entrenar::monitor {

// What the training quality score (SPEC §16) is computed from: the run's logged series, in step
// order. Absent series leave their component unmeasured.
struct QualityInput {
  std::vector<double> train_loss;  // every logged step (NaN / inf included)
  // Every logged step's throughput: by default of the step's own work (step_samples_per_second:
  // data, forward, backward, optimizer), else the run's average so far (samples_per_second).
  std::vector<double> samples_per_second;
  bool step_work = true;
  std::vector<double> grad_norm;     // when recorded (clip_norm or gradient_monitor)
  std::int64_t steps_per_epoch = 0;  // the first epoch's steps: the throughput reference
  std::optional<double> val_loss;    // the last validation's loss
  std::int64_t alerts = 0;           // alerts fired
  std::vector<double> fold_scores;   // cross-validation: one score per fold
};

// One component: its 0-100 value, or nullopt with the reason it was not measured, and how it
// was measured.
struct QualityComponent {
  std::optional<double> value;
  std::string basis;
};

struct QualityScore {
  double score = 0;  // the weighted mean of the measured components
  std::string grade;
  // convergence, stability, efficiency, generalization, reproducibility
  std::map<std::string, QualityComponent> components;
};

// Component formulas (each clamped to [0, 100]; docs/training.md "Quality score"):
//   convergence     first/last = mean train_loss of the first/last 10% of steps (at least one);
//                   reduction r = (first - last) / |first|; smoothness s = the share of the 9
//                   consecutive pairs of 10 equal windows whose mean does not rise;
//                   100 × (0.7 × clamp(r, 0, 1) + 0.3 × s).
//   stability       from grad_norm when recorded, else from train_loss, averaged over windows of
//                   1/50 of the run: cv = the standard deviation of the window-to-window
//                   changes over the second half of the run divided by that half's mean level;
//                   100 / (1 + cv), minus 20 per non-finite train_loss and 5 per alert.
//   efficiency      reference = the median samples/s of the first epoch (past its first 3 steps
//                   when it has more than 6); 100 × min(1, median samples/s of the rest / ref).
//   generalization  gap = max(0, val_loss - last) / |first|; 100 × (1 - 5 × gap).
//   reproducibility with 2+ fold scores: 100 × (1 - 10 × std / |mean|); otherwise unmeasured.
// Score = Σ wᵢ·cᵢ / Σ wᵢ over measured components, weights 0.30, 0.20, 0.15, 0.25, 0.10.
QualityScore ComputeQuality(const QualityInput& in);

// The grade of a score by SPEC §16.2: A+ ≥ 95, A ≥ 90, A- ≥ 85, B+ ≥ 80, B ≥ 75, B- ≥ 70,
// C+ ≥ 65, C ≥ 60, D ≥ 50, else F.
std::string Grade(double score);

// quality.yaml: score, grade, breakdown (null for unmeasured) and the basis of each component.
std::string QualityYaml(const QualityScore& q);

}  // namespace entrenar::monitor

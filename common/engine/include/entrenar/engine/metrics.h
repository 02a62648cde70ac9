#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace entrenar::engine {

// Classification metrics from predicted and true class indices: accuracy and macro-averaged
// precision, recall and f1 (classes never predicted nor present are skipped in the average).
std::map<std::string, double> ClassificationMetrics(const std::vector<std::int64_t>& predicted,
                                                    const std::vector<std::int64_t>& truth,
                                                    std::int64_t num_classes);

// confusion[t][p]: how many samples of true class t were predicted as p.
std::vector<std::vector<std::int64_t>> ConfusionMatrix(const std::vector<std::int64_t>& predicted,
                                                       const std::vector<std::int64_t>& truth,
                                                       std::int64_t num_classes);

// Area under the ROC curve from class probabilities (row-major, num_classes per sample): for two
// classes the AUC of class 1's score, for more the macro average of one-vs-rest AUCs over the
// classes present (ties count one half). Returns nullopt when no class has both positives and
// negatives.
std::optional<double> AucRoc(const std::vector<float>& probabilities,
                             const std::vector<std::int64_t>& truth, std::int64_t num_classes);

// Regression metrics: mse, rmse, mae and r2 (1 - SSE/SST; 0 when the targets are constant).
std::map<std::string, double> RegressionMetrics(const std::vector<double>& predicted,
                                                const std::vector<double>& truth);

}  // namespace entrenar::engine

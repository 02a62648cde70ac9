#include "entrenar/run/checkpoint_state.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace entrenar::run {
namespace {

using nlohmann::json;

// Reads state.json's fields, remembering the first that is missing, of the wrong type or out
// of range, for the error.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}

  // `key` into `out` when present (required: else an error); numbers below `min` are refused.
  template <typename T>
  void Take(const char* key, T* out, bool required, double min = kNoMin) {
    const auto it = j_.find(key);
    if (it == j_.end()) {
      if (required) Fail(key, "is missing");
      return;
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (!it->is_string()) return Fail(key, "is not a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) return Fail(key, "is not a number");
    } else {
      if (!it->is_number_integer() && !it->is_number_unsigned()) {
        return Fail(key, "is not an integer");
      }
      // An unsigned count past int64 would read back negative.
      if (std::is_signed_v<T> && it->is_number_unsigned() &&
          it->template get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
        return Fail(key, "is past 64 bits");
      }
    }
    *out = it->template get<T>();
    if constexpr (!std::is_same_v<T, std::string>) {
      if (!std::isfinite(static_cast<double>(*out))) return Fail(key, "is not finite");
      if (static_cast<double>(*out) < min) {
        return Fail(key,
                    min == 0 ? "is negative" : "is below " + std::to_string(static_cast<int>(min)));
      }
    }
  }
  template <typename T>
  void TakeOptional(const char* key, std::optional<T>* out, double min = kNoMin) {
    if (!j_.contains(key)) return;
    T v{};
    Take(key, &v, true, min);
    *out = v;
  }
  // Records a failure of `key` found by the caller.
  void Fail(const char* key, const std::string& why) {
    if (error_.empty()) error_ = std::string("`") + key + "` " + why;
  }
  const std::string& error() const { return error_; }

  static constexpr double kNoMin = -std::numeric_limits<double>::infinity();

 private:
  const json& j_;
  std::string error_;
};

}  // namespace

std::string EncodeCheckpointState(const CheckpointState& s) {
  nlohmann::ordered_json j = {{"step", s.step},
                              {"next_epoch", s.next_epoch},
                              {"next_batch", s.next_batch},
                              {"samples", s.samples},
                              {"seed", s.seed},
                              {"world_size", s.world_size},
                              {"stale_validations", s.stale_validations},
                              {"best_step", s.best_step},
                              {"best_metric", s.best_metric}};
  if (s.total_steps) j["total_steps"] = *s.total_steps;
  if (s.best_value) j["best_value"] = *s.best_value;
  if (s.early_best) j["early_best"] = *s.early_best;
  j["plateau_scale"] = s.plateau_scale;
  j["plateau_bad"] = s.plateau_bad;
  if (s.plateau_best) j["plateau_best"] = *s.plateau_best;
  if (s.loss_scale) {
    j["loss_scale"] = s.loss_scale->scale;
    j["loss_scale_clean_steps"] = s.loss_scale->clean_steps;
    j["loss_scale_skipped_steps"] = s.loss_scale->skipped_steps;
  }
  return j.dump(2) + "\n";
}

Result<CheckpointState> DecodeCheckpointState(std::string_view text, const std::string& file) {
  const json j = json::parse(text.begin(), text.end(), nullptr, false);
  const std::string damaged = file + " is damaged (not the state.json entrenar writes)";
  if (j.is_discarded()) return DataLoss(damaged + ": it is not JSON");
  if (!j.is_object()) return DataLoss(damaged + ": it is not a JSON object");
  // Counts a resumed run continues from: a negative one would train from nonsense.
  CheckpointState s;
  Fields f(j);
  f.Take("step", &s.step, true, 0);
  f.Take("next_epoch", &s.next_epoch, true, 1);
  f.Take("next_batch", &s.next_batch, true, 0);
  f.Take("samples", &s.samples, true, 0);
  f.Take("seed", &s.seed, false);
  f.Take("world_size", &s.world_size, false, 1);
  f.Take("stale_validations", &s.stale_validations, true, 0);
  f.Take("best_step", &s.best_step, true, 0);
  f.Take("best_metric", &s.best_metric, true);
  f.TakeOptional("total_steps", &s.total_steps, 0);
  f.TakeOptional("best_value", &s.best_value);
  f.TakeOptional("early_best", &s.early_best);
  f.Take("plateau_scale", &s.plateau_scale, false);
  if (s.plateau_scale <= 0) f.Fail("plateau_scale", "is not positive");
  f.Take("plateau_bad", &s.plateau_bad, false, 0);
  f.TakeOptional("plateau_best", &s.plateau_best);
  if (j.contains("loss_scale")) {
    CheckpointState::LossScale ls;
    f.Take("loss_scale", &ls.scale, true);
    if (ls.scale <= 0) f.Fail("loss_scale", "is not positive");
    f.Take("loss_scale_clean_steps", &ls.clean_steps, true, 0);
    f.Take("loss_scale_skipped_steps", &ls.skipped_steps, true, 0);
    s.loss_scale = ls;
  }
  if (!f.error().empty()) return DataLoss(damaged + ": " + f.error());
  return s;
}

}  // namespace entrenar::run

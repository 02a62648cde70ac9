#include "entrenar/run/checkpoint_state.h"

#include <nlohmann/json.hpp>

namespace entrenar::run {
namespace {

using nlohmann::json;

template <typename T>
bool Take(const json& j, const char* key, T* out, bool required) {
  const auto it = j.find(key);
  if (it == j.end()) return !required;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return false;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) return false;
  } else {
    if (!it->is_number_integer() && !it->is_number_unsigned()) return false;
  }
  *out = it->get<T>();
  return true;
}

template <typename T>
bool TakeOptional(const json& j, const char* key, std::optional<T>* out) {
  if (!j.contains(key)) return true;
  T v{};
  if (!Take(j, key, &v, true)) return false;
  *out = v;
  return true;
}

}  // namespace

std::string EncodeCheckpointState(const CheckpointState& s) {
  nlohmann::ordered_json j = {{"step", s.step},
                              {"next_epoch", s.next_epoch},
                              {"next_batch", s.next_batch},
                              {"samples", s.samples},
                              {"seed", s.seed},
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
  const Status damaged = DataLoss(file + " is damaged (not the state.json entrenar writes)");
  if (j.is_discarded() || !j.is_object()) return damaged;
  CheckpointState s;
  const bool ok =
      Take(j, "step", &s.step, true) && Take(j, "next_epoch", &s.next_epoch, true) &&
      Take(j, "next_batch", &s.next_batch, true) && Take(j, "samples", &s.samples, true) &&
      Take(j, "seed", &s.seed, false) && Take(j, "stale_validations", &s.stale_validations, true) &&
      Take(j, "best_step", &s.best_step, true) && Take(j, "best_metric", &s.best_metric, true) &&
      TakeOptional(j, "total_steps", &s.total_steps) &&
      TakeOptional(j, "best_value", &s.best_value) &&
      TakeOptional(j, "early_best", &s.early_best) &&
      Take(j, "plateau_scale", &s.plateau_scale, false) &&
      Take(j, "plateau_bad", &s.plateau_bad, false) &&
      TakeOptional(j, "plateau_best", &s.plateau_best);
  if (!ok || s.step < 0 || s.next_epoch < 1 || s.next_batch < 0) return damaged;
  if (j.contains("loss_scale")) {
    CheckpointState::LossScale ls;
    if (!Take(j, "loss_scale", &ls.scale, true) ||
        !Take(j, "loss_scale_clean_steps", &ls.clean_steps, true) ||
        !Take(j, "loss_scale_skipped_steps", &ls.skipped_steps, true)) {
      return damaged;
    }
    s.loss_scale = ls;
  }
  return s;
}

}  // namespace entrenar::run

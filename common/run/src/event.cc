#include "entrenar/run/event.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>

#include <nlohmann/json.hpp>

#include "entrenar/base/strings.h"

namespace entrenar::run {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kKinds = {"log",        "metric", "validation",
                                                    "checkpoint", "state",  "alert"};

// The deepest nesting of [ and { outside strings (nlohmann's writer recurses: bound it first).
int Depth(std::string_view s) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// At most 40 bytes of a name the line chose, for a message.
std::string Clip(const std::string& s) { return s.size() <= 40 ? s : s.substr(0, 40) + "..."; }

Status Field(const json& j, const char* name, bool (json::*is)() const noexcept,
             const char* expected) {
  const auto it = j.find(name);
  if (it == j.end() || ((*it).*is)()) return OkStatus();
  return InvalidArgument(std::string("`") + name + "` is not " + expected);
}

}  // namespace

Result<EventRecord> DecodeEvent(std::string_view line) {
  if (line.size() > kMaxEventBytes) {
    return InvalidArgument("the line is " + std::to_string(line.size()) + " bytes, over the " +
                           std::to_string(kMaxEventBytes) + " an event may have");
  }
  if (!IsValidUtf8(line)) return InvalidArgument("the line is not UTF-8");
  if (Depth(line) > kMaxEventDepth) {
    return InvalidArgument("the line nests deeper than " + std::to_string(kMaxEventDepth));
  }
  const json j = json::parse(line, nullptr, false);
  if (!j.is_object()) return InvalidArgument("the line is not a JSON object");
  ENTRENAR_RETURN_IF_ERROR(Field(j, "kind", &json::is_string, "a string"));
  ENTRENAR_RETURN_IF_ERROR(Field(j, "time", &json::is_string, "a string"));
  ENTRENAR_RETURN_IF_ERROR(Field(j, "text", &json::is_string, "a string"));
  ENTRENAR_RETURN_IF_ERROR(Field(j, "step", &json::is_number_integer, "an integer"));
  ENTRENAR_RETURN_IF_ERROR(Field(j, "epoch", &json::is_number_integer, "an integer"));
  ENTRENAR_RETURN_IF_ERROR(Field(j, "values", &json::is_object, "an object"));
  EventRecord e;
  if (const auto it = j.find("kind"); it != j.end()) e.kind = it->get_ref<const std::string&>();
  if (std::find(kKinds.begin(), kKinds.end(), e.kind) == kKinds.end()) {
    return InvalidArgument("unknown kind `" + Clip(e.kind) + "`");
  }
  if (const auto it = j.find("values"); it != j.end()) {
    for (const auto& [name, value] : it->items()) {
      if (!value.is_number() && !value.is_null()) {  // NaN is written as null
        return InvalidArgument("value `" + Clip(name) + "` is not a number");
      }
    }
  }
  if (const auto it = j.find("step"); it != j.end()) {
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > INT64_MAX) {
      return InvalidArgument("`step` is out of range");
    }
    e.step = it->get<std::int64_t>();
    if (e.step < 0) return InvalidArgument("`step` is negative");
  }
  if (const auto it = j.find("time"); it != j.end()) e.time = it->get_ref<const std::string&>();
  e.payload = std::string(line);
  return e;
}

std::string EncodeEvent(const EventFields& e) {
  nlohmann::ordered_json j = {
      {"kind", e.kind}, {"step", e.step}, {"epoch", e.epoch}, {"time", e.time}};
  if (!e.values.empty()) j["values"] = e.values;
  if (!e.text.empty()) j["text"] = e.text;
  for (const auto& [k, v] : e.extra) j[k] = v;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<StepProgress> ProgressOf(std::string_view payload) {
  if (payload.size() > kMaxEventBytes || Depth(payload) > kMaxEventDepth) return std::nullopt;
  const json j = json::parse(payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto kind = j.find("kind");
  const auto values = j.find("values");
  if (kind == j.end() || *kind != "metric" || values == j.end() || !values->is_object()) {
    return std::nullopt;
  }
  const auto number = [&](const char* key) {
    const auto it = values->find(key);
    const double v = it != values->end() && it->is_number() ? it->get<double>() : 0.0;
    return std::isfinite(v) ? std::clamp(v, 0.0, kMaxProgress) : 0.0;
  };
  StepProgress p;
  p.total_steps = static_cast<std::int64_t>(number("total_steps"));
  p.elapsed_seconds = number("elapsed_seconds");
  p.time_budget_seconds = number("time_budget_seconds");
  return p;
}

EventRecord MalformedEvent(std::int64_t line_number, const Status& why) {
  EventRecord e;
  e.kind = "log";
  const json j = {{"kind", "log"},
                  {"text", "entrenard: line " + std::to_string(line_number) +
                               " of events.jsonl was ignored: " + why.message()}};
  e.payload = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return e;
}

}  // namespace entrenar::run

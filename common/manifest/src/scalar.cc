#include "scalar.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace entrenar::manifest {
namespace {

bool IsIntText(std::string_view t) {
  std::size_t p = (t.size() > 1 && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
  if (p >= t.size()) return false;
  for (; p < t.size(); ++p) {
    if (!std::isdigit(static_cast<unsigned char>(t[p]))) return false;
  }
  return true;
}

bool IsFloatText(std::string_view t) {
  // [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
  std::size_t p = 0;
  if (p < t.size() && (t[p] == '-' || t[p] == '+')) ++p;
  std::size_t digits = 0;
  while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p, ++digits;
  if (p < t.size() && t[p] == '.') {
    ++p;
    while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p, ++digits;
  }
  if (digits == 0) return false;
  if (p < t.size() && (t[p] == 'e' || t[p] == 'E')) {
    ++p;
    if (p < t.size() && (t[p] == '-' || t[p] == '+')) ++p;
    std::size_t exp = 0;
    while (p < t.size() && std::isdigit(static_cast<unsigned char>(t[p]))) ++p, ++exp;
    if (exp == 0) return false;
  }
  return p == t.size();
}

}  // namespace

ScalarValue ClassifyScalar(std::string_view t) {
  ScalarValue v;
  if (t.empty() || t == "~" || t == "null" || t == "Null" || t == "NULL") {
    v.kind = ScalarKind::kNull;
  } else if (t == "true" || t == "True" || t == "TRUE") {
    v.kind = ScalarKind::kBool;
    v.b = true;
  } else if (t == "false" || t == "False" || t == "FALSE") {
    v.kind = ScalarKind::kBool;
  } else if (IsIntText(t)) {
    std::string_view digits = t[0] == '+' ? t.substr(1) : t;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v.i);
    if (ec == std::errc()) {
      v.kind = ScalarKind::kInt;
    } else {
      v.kind = ScalarKind::kFloat;
      v.f = std::strtod(std::string(t).c_str(), nullptr);
    }
  } else if (IsFloatText(t)) {
    v.kind = ScalarKind::kFloat;
    v.f = std::strtod(std::string(t).c_str(), nullptr);
  } else if (t == ".inf" || t == ".Inf" || t == ".INF" || t == "+.inf") {
    v.kind = ScalarKind::kFloat;
    v.f = std::numeric_limits<double>::infinity();
  } else if (t == "-.inf" || t == "-.Inf" || t == "-.INF") {
    v.kind = ScalarKind::kFloat;
    v.f = -std::numeric_limits<double>::infinity();
  } else if (t == ".nan" || t == ".NaN" || t == ".NAN") {
    v.kind = ScalarKind::kFloat;
    v.f = std::numeric_limits<double>::quiet_NaN();
  }
  return v;
}

bool LooksTyped(std::string_view text) {
  if (ClassifyScalar(text).kind != ScalarKind::kString) return true;
  // Words YAML 1.1 readers (PyYAML) would take as booleans, and text YAML would misread.
  for (std::string_view w : {"yes", "no", "on", "off", "Yes", "No", "On", "Off", "y", "n"}) {
    if (text == w) return true;
  }
  return text.find_first_of(":#{}[],&*!|>'\"%@`") != std::string_view::npos ||
         text.front() == ' ' || text.back() == ' ' || text.front() == '-' || text.front() == '?';
}

}  // namespace entrenar::manifest

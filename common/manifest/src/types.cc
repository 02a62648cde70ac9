#include "types.h"

#include <cctype>
#include <string>

namespace entrenar::manifest {
namespace {

// Reads a number at `p`; returns false if there is none.
bool ReadNumber(std::string_view t, std::size_t& p, double* out) {
  const std::size_t start = p;
  while (p < t.size() && (std::isdigit(static_cast<unsigned char>(t[p])) || t[p] == '.')) ++p;
  if (p == start) return false;
  try {
    *out = std::stod(std::string(t.substr(start, p - start)));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

std::optional<double> ParseIso(std::string_view t) {
  // P[nD][T[nH][nM][nS]]
  std::size_t p = 1;
  double total = 0;
  bool in_time = false, any = false;
  while (p < t.size()) {
    if (t[p] == 'T') {
      if (in_time) return std::nullopt;
      in_time = true;
      ++p;
      continue;
    }
    double n = 0;
    if (!ReadNumber(t, p, &n) || p >= t.size()) return std::nullopt;
    const char unit = t[p++];
    if (!in_time && unit == 'D') {
      total += n * 86400;
    } else if (!in_time && unit == 'W') {
      total += n * 7 * 86400;
    } else if (in_time && unit == 'H') {
      total += n * 3600;
    } else if (in_time && unit == 'M') {
      total += n * 60;
    } else if (in_time && unit == 'S') {
      total += n;
    } else {
      return std::nullopt;
    }
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

}  // namespace

std::optional<double> ParseDuration(std::string_view t) {
  if (t.empty()) return std::nullopt;
  if (t[0] == 'P') return ParseIso(t);
  std::size_t p = 0;
  double total = 0;
  while (p < t.size()) {
    double n = 0;
    if (!ReadNumber(t, p, &n)) return std::nullopt;
    std::size_t u = p;
    while (u < t.size() && std::isalpha(static_cast<unsigned char>(t[u]))) ++u;
    const std::string_view unit = t.substr(p, u - p);
    p = u;
    if (unit.empty() && p == t.size() && total == 0) {
      total = n;  // a bare number is seconds
    } else if (unit == "d") {
      total += n * 86400;
    } else if (unit == "h") {
      total += n * 3600;
    } else if (unit == "m" || unit == "min") {
      total += n * 60;
    } else if (unit == "s") {
      total += n;
    } else if (unit == "ms") {
      total += n / 1000;
    } else {
      return std::nullopt;
    }
  }
  return total;
}

}  // namespace entrenar::manifest

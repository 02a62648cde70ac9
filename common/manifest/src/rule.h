#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace entrenar::manifest {

// What a key accepts beyond its C++ type: allowed words, ranges, required-ness, and its doc line.
// Rules are structural (a JSON Schema can say them too); rules that depend on other keys live in
// validate.cc.
struct Rule {
  std::string doc;
  std::vector<std::string> one_of;                           // allowed words
  std::vector<std::pair<std::string, std::string>> aliases;  // accepted spelling -> canonical
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;
  bool required = false;
  bool non_empty = false;             // strings and lists
  std::optional<std::size_t> length;  // lists of exactly this many items
  std::string format;     // "uri", "duration", "regex", "glob", "columns", "condition", ...
  std::string shorthand;  // one-of items: a scalar value sets this field
  // The engine does not run this key yet: the support check refuses it with this hint (the
  // manifest reads and validates it, so a file written for a later release still checks).
  std::string not_built;

  Rule& Doc(std::string d) {
    doc = std::move(d);
    return *this;
  }
  Rule& OneOf(std::vector<std::string> words) {
    one_of = std::move(words);
    return *this;
  }
  Rule& Alias(std::string from, std::string to) {
    aliases.emplace_back(std::move(from), std::move(to));
    return *this;
  }
  Rule& Min(double v) {
    min = v;
    return *this;
  }
  Rule& Above(double v) {
    min = v;
    min_exclusive = true;
    return *this;
  }
  Rule& Max(double v) {
    max = v;
    return *this;
  }
  Rule& Below(double v) {
    max = v;
    max_exclusive = true;
    return *this;
  }
  Rule& Required() {
    required = true;
    return *this;
  }
  Rule& NonEmpty() {
    non_empty = true;
    return *this;
  }
  Rule& Length(std::size_t n) {
    length = n;
    return *this;
  }
  Rule& Format(std::string f) {
    format = std::move(f);
    return *this;
  }
  Rule& NotBuilt(std::string hint) {
    not_built = std::move(hint);
    return *this;
  }
  Rule& Shorthand(std::string field) {
    shorthand = std::move(field);
    return *this;
  }

  bool HasRange() const { return min.has_value() || max.has_value(); }
  // "an integer >= 1", "a number in (0, 1)", ... for `type` ("integer" or "number").
  std::string RangeText(const std::string& type) const;
  // True when `v` satisfies min/max.
  bool InRange(double v) const {
    if (min && (min_exclusive ? v <= *min : v < *min)) return false;
    if (max && (max_exclusive ? v >= *max : v > *max)) return false;
    return true;
  }
};

inline Rule R(std::string doc) { return Rule().Doc(std::move(doc)); }

}  // namespace entrenar::manifest

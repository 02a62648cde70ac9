#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace entrenar::expr {

// A dynamically typed value of the expression language. Plain value type; thread-compatible.
struct Value {
  enum class Kind { kUndefined, kNull, kBool, kInt, kFloat, kString, kList };

  Kind kind = Kind::kNull;
  bool b = false;
  std::int64_t i = 0;
  double f = 0.0;
  std::string s;  // the string, or for kUndefined the reason (e.g. "env.HOME is not set")
  std::vector<Value> list;

  static Value Undefined(std::string why);
  static Value Null();
  static Value Bool(bool v);
  static Value Int(std::int64_t v);
  static Value Float(double v);
  static Value String(std::string v);
  static Value List(std::vector<Value> v);

  bool IsNumber() const { return kind == Kind::kInt || kind == Kind::kFloat; }
  double AsDouble() const { return kind == Kind::kInt ? static_cast<double>(i) : f; }
  bool Truthy() const;
  // The text a value takes when interpolated into a string: 0.0001 -> "0.0001", true -> "true".
  std::string ToString() const;
  // A short type name for messages: "integer", "string", ...
  std::string TypeName() const;
};

bool operator==(const Value& a, const Value& b);

// Shortest decimal text that reads back to exactly `v` ("0.0001", "1e-08", "3.0").
std::string FormatDouble(double v);

}  // namespace entrenar::expr

#include "entrenar/expr/value.h"

#include <charconv>
#include <cmath>

namespace entrenar::expr {

Value Value::Undefined(std::string why) {
  Value v;
  v.kind = Kind::kUndefined;
  v.s = std::move(why);
  return v;
}
Value Value::Null() { return Value(); }
Value Value::Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.b = b;
  return v;
}
Value Value::Int(std::int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.i = i;
  return v;
}
Value Value::Float(double f) {
  Value v;
  v.kind = Kind::kFloat;
  v.f = f;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.s = std::move(s);
  return v;
}
Value Value::List(std::vector<Value> l) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::move(l);
  return v;
}

bool Value::Truthy() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return false;
    case Kind::kBool:
      return b;
    case Kind::kInt:
      return i != 0;
    case Kind::kFloat:
      return f != 0.0;
    case Kind::kString:
      return !s.empty();
    case Kind::kList:
      return !list.empty();
  }
  return false;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  char buf[400];
  // Plain decimals for everyday magnitudes (0.0001, 3.5), exponents for the rest (1e-08).
  const double mag = std::fabs(v);
  const bool fixed = mag == 0 || (mag >= 1e-5 && mag < 1e15);
  auto [end, ec] = fixed ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string out(buf, end);
  if (out.find_first_of(".en") == std::string::npos) out += ".0";
  return out;
}

std::string Value::ToString() const {
  switch (kind) {
    case Kind::kUndefined:
    case Kind::kNull:
      return "";
    case Kind::kBool:
      return b ? "true" : "false";
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kFloat:
      return FormatDouble(f);
    case Kind::kString:
      return s;
    case Kind::kList: {
      std::string out = "[";
      for (std::size_t k = 0; k < list.size(); ++k) {
        if (k) out += ", ";
        out += list[k].ToString();
      }
      return out + "]";
    }
  }
  return "";
}

std::string Value::TypeName() const {
  switch (kind) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
      return "integer";
    case Kind::kFloat:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kList:
      return "list";
  }
  return "?";
}

bool operator==(const Value& a, const Value& b) {
  if (a.IsNumber() && b.IsNumber()) return a.AsDouble() == b.AsDouble();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull:
      return true;
    case Value::Kind::kBool:
      return a.b == b.b;
    case Value::Kind::kString:
      return a.s == b.s;
    case Value::Kind::kList:
      return a.list == b.list;
    default:
      return false;
  }
}

}  // namespace entrenar::expr

#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "entrenar/expr/value.h"

namespace entrenar::expr {

// Where and why an expression is wrong. `offset` counts bytes from the start of the source text.
struct Error {
  std::size_t offset = 0;
  std::string message;
  std::string hint;
};

// A value or the Error that explains its absence (the expression layer's Result).
template <typename T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Outcome(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// One step of a reference path: a name (`loader`) or a list index (`[0]`).
struct PathSeg {
  std::string name;
  std::optional<std::int64_t> index;
  std::size_t offset = 0;
};

std::string PathToString(const std::vector<PathSeg>& path);

// The syntax tree of one expression. Immutable after parsing; safe to share between threads.
struct Expr {
  enum class Kind { kLiteral, kRef, kList, kUnary, kBinary, kTernary, kCall };
  Kind kind = Kind::kLiteral;
  std::size_t offset = 0;                   // where the expression starts in the source
  std::size_t end = 0;                      // one past its last byte
  Value literal;                            // kLiteral
  std::vector<PathSeg> path;                // kRef; kCall: the callee (`stall`, `loss.stall`)
  std::string op;                           // kUnary ("-", "not"), kBinary ("+", "and", "<", ...)
  std::vector<std::unique_ptr<Expr>> args;  // operands, list items or call arguments
};

// Parses one expression, e.g. `1e-4 if lora.enabled else 1e-5` or `loss.stall(50) and lr > 0`.
// Returns an Error at the offending offset for a syntax error.
Outcome<std::unique_ptr<Expr>> Parse(std::string_view source);

// Answers the names an expression refers to. Implementations decide what a path means.
class Scope {
 public:
  virtual ~Scope() = default;
  // Returns the value at `path`, or an Error (unknown name, cycle, ...) to abort evaluation.
  virtual Outcome<Value> Lookup(const std::vector<PathSeg>& path) = 0;
};

// Evaluates `e`. Errors: type mismatches, division by zero, unknown functions, and any error
// `scope` returns. An undefined value (an unset environment variable) only fails when used.
Outcome<Value> Evaluate(const Expr& e, Scope& scope);

}  // namespace entrenar::expr

#include "lexer.h"

#include <array>
#include <cctype>
#include <charconv>
#include <string>

namespace entrenar::expr {
namespace {

constexpr std::array<std::string_view, 11> kKeywords = {
    "and", "or", "not", "if", "else", "true", "false", "null", "True", "False", "None"};
constexpr std::array<std::string_view, 18> kOps = {
    "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "(", ")", "[", "]", ",", "."};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

Outcome<Token> LexNumber(std::string_view src, std::size_t pos) {
  std::size_t p = pos;
  bool is_float = false;
  while (p < src.size() && IsDigit(src[p])) ++p;
  if (p < src.size() && src[p] == '.' && p + 1 < src.size() && IsDigit(src[p + 1])) {
    is_float = true;
    ++p;
    while (p < src.size() && IsDigit(src[p])) ++p;
  }
  if (p < src.size() && (src[p] == 'e' || src[p] == 'E')) {
    std::size_t q = p + 1;
    if (q < src.size() && (src[q] == '+' || src[q] == '-')) ++q;
    if (q >= src.size() || !IsDigit(src[q])) {
      return Error{pos, "malformed number `" + std::string(src.substr(pos, q - pos)) + "`",
                   "an exponent needs digits, as in 1e-4"};
    }
    while (q < src.size() && IsDigit(src[q])) ++q;
    p = q;
    is_float = true;
  }
  if (p < src.size() && IsIdentChar(src[p])) {
    return Error{p, "unexpected `" + std::string(1, src[p]) + "` after a number", ""};
  }
  Token t;
  t.kind = Tok::kNumber;
  t.offset = pos;
  t.end = p;
  t.text = std::string(src.substr(pos, p - pos));
  if (is_float) {
    double d = 0;
    std::from_chars(t.text.data(), t.text.data() + t.text.size(), d);
    t.number = Value::Float(d);
  } else {
    std::int64_t i = 0;
    auto [ptr, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), i);
    if (ec != std::errc()) return Error{pos, "integer `" + t.text + "` is too large", ""};
    t.number = Value::Int(i);
  }
  return t;
}

Outcome<Token> LexString(std::string_view src, std::size_t pos) {
  const char quote = src[pos];
  Token t;
  t.kind = Tok::kString;
  t.offset = pos;
  std::size_t p = pos + 1;
  while (p < src.size() && src[p] != quote) {
    if (src[p] == '\\' && p + 1 < src.size()) {
      const char e = src[p + 1];
      t.text.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
      p += 2;
      continue;
    }
    t.text.push_back(src[p++]);
  }
  if (p >= src.size()) {
    return Error{pos, "unterminated string", std::string("close it with ") + quote};
  }
  t.end = p + 1;
  return t;
}

}  // namespace

Outcome<std::vector<Token>> Lex(std::string_view src) {
  std::vector<Token> out;
  std::size_t p = 0;
  while (true) {
    while (p < src.size() && std::isspace(static_cast<unsigned char>(src[p]))) ++p;
    if (p >= src.size()) break;
    const char c = src[p];
    if (IsDigit(c) || (c == '.' && p + 1 < src.size() && IsDigit(src[p + 1]))) {
      Outcome<Token> t = LexNumber(src, p);
      if (!t.ok()) return t.error();
      p = t.value().end;
      out.push_back(std::move(t.value()));
      continue;
    }
    if (c == '"' || c == '\'') {
      Outcome<Token> t = LexString(src, p);
      if (!t.ok()) return t.error();
      p = t.value().end;
      out.push_back(std::move(t.value()));
      continue;
    }
    if (IsIdentStart(c)) {
      std::size_t q = p;
      while (q < src.size() && IsIdentChar(src[q])) ++q;
      Token t;
      t.text = std::string(src.substr(p, q - p));
      t.kind = Tok::kIdent;
      for (std::string_view k : kKeywords) {
        if (t.text == k) t.kind = Tok::kKeyword;
      }
      t.offset = p;
      t.end = q;
      out.push_back(std::move(t));
      p = q;
      continue;
    }
    bool matched = false;
    for (std::string_view op : kOps) {
      if (src.substr(p, op.size()) == op) {
        Token t;
        t.kind = Tok::kOp;
        t.text = std::string(op);
        t.offset = p;
        t.end = p + op.size();
        out.push_back(std::move(t));
        p += op.size();
        matched = true;
        break;
      }
    }
    if (!matched) {
      std::string hint;
      if (c == '&' || c == '|' || c == '!') hint = "use `and`, `or` and `not`";
      if (c == '=') hint = "compare with `==`";
      return Error{p, "unexpected character `" + std::string(1, c) + "`", hint};
    }
  }
  Token end;
  end.offset = end.end = src.size();
  out.push_back(std::move(end));
  return out;
}

}  // namespace entrenar::expr

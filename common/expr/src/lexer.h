#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/expr/expr.h"

namespace entrenar::expr {

enum class Tok { kEnd, kNumber, kString, kIdent, kKeyword, kOp };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // identifier, keyword, operator; a string literal's decoded contents
  Value number;      // kNumber: an integer or a float
  std::size_t offset = 0;
  std::size_t end = 0;
};

// Splits `source` into tokens, ending with one kEnd token. Returns an Error for a bad character,
// an unterminated string or a malformed number.
Outcome<std::vector<Token>> Lex(std::string_view source);

}  // namespace entrenar::expr

#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace entrenar {

// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
std::size_t EditDistance(std::string_view a, std::string_view b);

// The candidates close enough to `word` to be a likely misspelling, best first (at most 3).
// Comparison ignores case. Returns an empty list when nothing is close.
std::vector<std::string> Suggest(std::string_view word, const std::vector<std::string>& candidates);

// "did you mean `a`?" or "did you mean `a` or `b`?"; empty when `suggestions` is empty.
std::string DidYouMean(const std::vector<std::string>& suggestions);

std::string Join(const std::vector<std::string>& parts, std::string_view sep);
// Quotes each part with backticks, then joins: "`a`, `b`, `c`".
std::string JoinQuoted(const std::vector<std::string>& parts);
std::string_view Trim(std::string_view s);
// ASCII lower case.
std::string ToLower(std::string_view s);
bool StartsWith(std::string_view s, std::string_view prefix);

// The offset of the first byte that is not part of well-formed UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included), or npos when all of `s` is UTF-8.
std::size_t FindInvalidUtf8(std::string_view s);
// Where the first byte that is not UTF-8 lies in a text: 1-based line and column (in bytes), and
// the byte written as "0xE9".
struct Utf8Error {
  int line = 0;
  int column = 0;
  std::string byte;
};
// nullopt when all of `text` is UTF-8.
std::optional<Utf8Error> FirstUtf8Error(std::string_view text);

// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);
inline bool IsValidUtf8(std::string_view s) { return FindInvalidUtf8(s) == std::string_view::npos; }

}  // namespace entrenar

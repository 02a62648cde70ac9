#include "entrenar/base/strings.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace entrenar {

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::vector<std::string> Suggest(std::string_view word,
                                 const std::vector<std::string>& candidates) {
  const std::string w = ToLower(word);
  const std::size_t limit = std::max<std::size_t>(1, (w.size() + 2) / 3);
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const std::string& c : candidates) {
    const std::string lc = ToLower(c);
    std::size_t dist = EditDistance(w, lc);
    // A word that is a clear prefix or suffix of a candidate is a likely abbreviation.
    const bool affix = w.size() >= 3 && (StartsWith(lc, w) || StartsWith(w, lc) ||
                                         (lc.size() > w.size() && lc.ends_with(w)));
    if (affix) dist = std::min(dist, limit);
    if (dist <= limit && lc != w) scored.emplace_back(dist, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  // Only the closest candidates: `rellu` suggests `relu`, not also `gelu`.
  std::vector<std::string> out;
  for (const auto& [dist, c] : scored) {
    if (out.size() == 3 || dist > scored.front().first) break;
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

std::string DidYouMean(const std::vector<std::string>& suggestions) {
  if (suggestions.empty()) return "";
  std::string out = "did you mean `" + suggestions[0] + "`";
  for (std::size_t i = 1; i < suggestions.size(); ++i) {
    out += (i + 1 == suggestions.size() ? " or `" : ", `") + suggestions[i] + "`";
  }
  return out + "?";
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string JoinQuoted(const std::vector<std::string>& parts) {
  std::vector<std::string> quoted;
  quoted.reserve(parts.size());
  for (const std::string& p : parts) quoted.push_back("`" + p + "`");
  return Join(quoted, ", ");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::size_t FindInvalidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;                   // continuation bytes
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range (RFC 3629, table 3-7)
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + n >= s.size()) return i;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i;
    }
    i += n + 1;
  }
  return std::string_view::npos;
}

std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    const std::size_t bad = FindInvalidUtf8(s);
    out += s.substr(0, bad);
    if (bad == std::string_view::npos) break;
    out += "\xEF\xBF\xBD";
    s.remove_prefix(bad + 1);
  }
  return out;
}

std::optional<Utf8Error> FirstUtf8Error(std::string_view text) {
  const std::size_t bad = FindInvalidUtf8(text);
  if (bad == std::string_view::npos) return std::nullopt;
  const std::size_t line_start = bad == 0 ? std::string_view::npos : text.rfind('\n', bad - 1);
  Utf8Error e;
  e.column = static_cast<int>(line_start == std::string_view::npos ? bad + 1 : bad - line_start);
  e.line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
  char byte[8];
  std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(text[bad]));
  e.byte = byte;
  return e;
}

}  // namespace entrenar

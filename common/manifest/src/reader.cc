#include "reader.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <regex>

#include "entrenar/expr/condition.h"
#include "entrenar/expr/value.h"
#include "entrenar/manifest/limits.h"

#include "scalar.h"
#include "types.h"

namespace entrenar::manifest {
namespace {

std::string Show(const Node& n) { return n.Describe(); }

// Keys that other implementations accept and entrenar 1.0 does not, with where to go instead.
std::string ForeignKeyHint(const std::string& path, const std::string& key) {
  static const std::vector<std::string> kPaimlSections = {"citl",
                                                          "rag",
                                                          "graph",
                                                          "distillation",
                                                          "inspect",
                                                          "privacy",
                                                          "audit",
                                                          "session",
                                                          "stress",
                                                          "benchmark",
                                                          "debug",
                                                          "signing",
                                                          "verification",
                                                          "strict_validation",
                                                          "require_peer_review",
                                                          "lockfile",
                                                          "publish"};
  if (path.empty()) {
    for (const std::string& s : kPaimlSections) {
      if (s == key) {
        return "`" + key +
               "` is an extension of the paiml/entrenar implementation, not a key of "
               "entrenar 1.0 (see docs/compatibility.md)";
      }
    }
  }
  if (path == "data" && (key == "tokenizer" || key == "seq_len" || key == "max_length" ||
                         key == "input_column" || key == "output_column")) {
    return "text is tokenized by a preprocessing step: `preprocessing: [{tokenize: {tokenizer: "
           "..., max_length: ...}}]`";
  }
  return "";
}

// `pixel_12` -> {"pixel_", "12"}; digits is empty when the name does not end in a number.
struct NumberedName {
  std::string prefix;
  std::string digits;
};
NumberedName SplitNumbered(const std::string& name) {
  std::size_t p = name.size();
  while (p > 0 && std::isdigit(static_cast<unsigned char>(name[p - 1]))) --p;
  return {name.substr(0, p), name.substr(p)};
}

// auto, cpu, mps, cuda or cuda:N.
bool IsDevice(const std::string& s) {
  if (s == "auto" || s == "cpu" || s == "mps" || s == "cuda") return true;
  if (!StartsWith(s, "cuda:") || s.size() == 5 || s.size() > 9) return false;
  return std::all_of(s.begin() + 5, s.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

std::string Where(const std::string& path) {
  return path.empty() ? "at the top level" : "in `" + path + "`";
}

bool NumberFromNode(ReadContext& ctx, const Node& n, const std::string& path,
                    const std::string& want, ScalarValue* v) {
  if (n.IsScalar() && !n.quoted) {
    *v = ClassifyScalar(n.text);
    if (v->kind == ScalarKind::kInt || v->kind == ScalarKind::kFloat) return true;
  }
  std::vector<std::string> hints;
  if (n.IsScalar() && n.quoted) {
    const ScalarValue inner = ClassifyScalar(n.text);
    if (inner.kind == ScalarKind::kInt || inner.kind == ScalarKind::kFloat) {
      hints.push_back("remove the quotes: " + n.text);
    }
  }
  if (n.IsScalar() && !n.quoted && n.text.find("{{") != std::string::npos) {
    hints.push_back("quote a template: \"" + n.text + "\"");
  }
  Report(ctx, path, n.loc, "expected " + want + ", found " + Show(n), hints);
  return false;
}

bool CheckRange(ReadContext& ctx, const Node& n, const std::string& path, double v,
                const std::string& type, const Rule& r) {
  if (r.InRange(v)) return true;
  Report(ctx, path, n.loc, "expected " + r.RangeText(type) + ", found " + n.text);
  return false;
}

bool CheckFormat(ReadContext& ctx, const Node& n, const std::string& path, const std::string& s,
                 const Rule& r) {
  if (r.format == "uri") {
    const std::size_t sep = s.find("://");
    if (sep != std::string::npos) {
      const std::string scheme = s.substr(0, sep);
      static const std::vector<std::string> kSchemes = {"hf",   "pacha", "s3",
                                                        "file", "http",  "https"};
      if (std::find(kSchemes.begin(), kSchemes.end(), scheme) == kSchemes.end()) {
        std::vector<std::string> hints;
        const std::string dym = DidYouMean(Suggest(scheme, kSchemes));
        hints.push_back(dym.empty() ? "schemes are hf://, pacha://, s3://, file:// and http(s)://"
                                    : dym);
        Report(ctx, path, n.loc, "unknown URI scheme `" + scheme + "://`", hints);
        return false;
      }
      if (sep + 3 >= s.size()) {
        Report(ctx, path, n.loc, "the URI `" + s + "` names nothing after `" + scheme + "://`");
        return false;
      }
    }
  } else if (r.format == "regex") {
    if (s.size() > 1000) {  // std::regex compiles recursively: keep patterns to a sane size
      Report(ctx, path, n.loc, "the regular expression is too long (over 1000 characters)");
      return false;
    }
    try {
      std::regex re(s);
    } catch (const std::regex_error& e) {
      Report(ctx, path, n.loc, "not a valid regular expression: " + std::string(e.what()),
             {"patterns use ECMAScript syntax; escape a literal dot as \\\\."});
      return false;
    }
  } else if (r.format == "device") {
    if (!IsDevice(s)) {
      std::vector<std::string> hints = {"devices are auto, cpu, cuda, cuda:N and mps"};
      const std::string dym = DidYouMean(Suggest(s, {"auto", "cpu", "cuda", "mps"}));
      if (!dym.empty()) hints.insert(hints.begin(), dym);
      Report(ctx, path, n.loc, "unknown device `" + s + "`", hints);
      return false;
    }
  } else if (r.format == "condition") {
    expr::Outcome<expr::Condition> c = expr::ParseCondition(s);
    if (!c.ok()) {
      Location at = n.loc;
      at.column += static_cast<int>(c.error().offset) + (n.quoted ? 1 : 0);
      std::vector<std::string> hints;
      if (!c.error().hint.empty()) hints.push_back(c.error().hint);
      Report(ctx, path, at, "bad alert condition: " + c.error().message, hints);
      return false;
    }
  }
  return true;
}

}  // namespace

void Report(ReadContext& ctx, const std::string& path, const Location& loc, std::string message,
            std::vector<std::string> hints) {
  std::erase_if(hints, [](const std::string& h) { return h.empty(); });
  ctx.diags->push_back({Severity::kError, path, loc, std::move(message), std::move(hints)});
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, bool& out, const Rule&) {
  if (n.IsScalar() && !n.quoted) {
    const ScalarValue v = ClassifyScalar(n.text);
    if (v.kind == ScalarKind::kBool) {
      out = v.b;
      return true;
    }
  }
  std::vector<std::string> hints;
  if (n.IsScalar()) {
    for (std::string_view w : {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off"}) {
      if (n.text == w) hints.push_back("YAML 1.2 booleans are `true` and `false`");
    }
    if (n.quoted && (n.text == "true" || n.text == "false")) {
      hints.push_back("remove the quotes: " + n.text);
    }
  }
  Report(ctx, path, n.loc, "expected true or false, found " + Show(n), hints);
  return false;
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, std::int64_t& out,
                const Rule& r) {
  ScalarValue v;
  if (!NumberFromNode(ctx, n, path, "an integer", &v)) return false;
  if (v.kind == ScalarKind::kFloat) {
    if (!std::isfinite(v.f) || v.f != std::floor(v.f) || std::fabs(v.f) > 9.0e18) {
      Report(ctx, path, n.loc, "expected an integer, found " + n.text);
      return false;
    }
    v.i = static_cast<std::int64_t>(v.f);
  }
  if (!CheckRange(ctx, n, path, static_cast<double>(v.i), "integer", r)) return false;
  out = v.i;
  return true;
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, double& out,
                const Rule& r) {
  ScalarValue v;
  if (!NumberFromNode(ctx, n, path, "a number", &v)) return false;
  const double d = v.kind == ScalarKind::kInt ? static_cast<double>(v.i) : v.f;
  if (!std::isfinite(d)) {
    Report(ctx, path, n.loc, "expected a finite number, found " + n.text);
    return false;
  }
  if (!CheckRange(ctx, n, path, d, "number", r)) return false;
  out = d;
  return true;
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, std::string& out,
                const Rule& r) {
  if (!n.IsScalar() || (!n.quoted && ClassifyScalar(n.text).kind == ScalarKind::kNull)) {
    const std::string what = r.one_of.empty() ? "a string" : "one of " + JoinQuoted(r.one_of);
    Report(ctx, path, n.loc, "expected " + what + ", found " + Show(n));
    return false;
  }
  std::string s = n.text;
  for (const auto& [from, to] : r.aliases) {
    if (s == from) s = to;
  }
  if (!r.one_of.empty() && std::find(r.one_of.begin(), r.one_of.end(), s) == r.one_of.end()) {
    std::vector<std::string> hints;
    std::vector<std::string> spellings = r.one_of;
    for (const auto& alias : r.aliases) spellings.push_back(alias.first);
    const std::vector<std::string> close = Suggest(s, r.one_of);
    hints.push_back(close.empty() ? "" : DidYouMean(close));
    Report(ctx, path, n.loc, "expected one of " + JoinQuoted(r.one_of) + ", found `" + s + "`",
           hints);
    return false;
  }
  if (r.non_empty && Trim(s).empty()) {
    Report(ctx, path, n.loc, "must not be empty", {r.doc});
    return false;
  }
  if (!CheckFormat(ctx, n, path, s, r)) return false;
  out = std::move(s);
  return true;
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, Duration& out,
                const Rule&) {
  if (n.IsScalar()) {
    if (!n.quoted) {
      const ScalarValue v = ClassifyScalar(n.text);
      if (v.kind == ScalarKind::kInt || v.kind == ScalarKind::kFloat) {
        const double secs = v.kind == ScalarKind::kInt ? static_cast<double>(v.i) : v.f;
        if (secs > 0 && std::isfinite(secs)) {
          out = Duration{secs, n.text};
          return true;
        }
      }
    }
    if (std::optional<double> secs = ParseDuration(n.text); secs && *secs > 0) {
      out = Duration{*secs, n.text};
      return true;
    }
  }
  Report(ctx, path, n.loc,
         "expected a positive duration such as `90s`, `1h30m` or `PT2H`, found " + Show(n),
         {"units are d, h, m, s and ms; ISO 8601 durations start with P"});
  return false;
}

bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, NumberOrWord& out,
                const Rule& r) {
  if (n.IsScalar() && !n.quoted) {
    const ScalarValue v = ClassifyScalar(n.text);
    if (v.kind == ScalarKind::kInt || v.kind == ScalarKind::kFloat) {
      const double d = v.kind == ScalarKind::kInt ? static_cast<double>(v.i) : v.f;
      if (!std::isfinite(d) || !r.InRange(d)) {
        Report(ctx, path, n.loc, "expected " + r.RangeText("number") + ", found " + n.text);
        return false;
      }
      out = NumberOrWord{d, ""};
      return true;
    }
  }
  if (n.IsScalar() && ClassifyScalar(n.text).kind != ScalarKind::kNull) {
    if (r.one_of.empty() || std::find(r.one_of.begin(), r.one_of.end(), n.text) != r.one_of.end()) {
      out = NumberOrWord{std::nullopt, n.text};
      return true;
    }
    Report(ctx, path, n.loc,
           "expected a number or one of " + JoinQuoted(r.one_of) + ", found `" + n.text + "`",
           {DidYouMean(Suggest(n.text, r.one_of))});
    return false;
  }
  Report(ctx, path, n.loc, "expected a number or a word, found " + Show(n));
  return false;
}

bool ReadStringMap(ReadContext& ctx, const Node& n, const std::string& path,
                   std::map<std::string, std::string>& out) {
  if (n.IsNull()) return true;
  if (!n.IsMap()) {
    Report(ctx, path, n.loc, "expected a mapping of names to values, found " + Show(n));
    return false;
  }
  bool ok = true;
  for (const auto& [k, v] : n.entries) {
    const std::string item = path + "." + k.text;
    (*ctx.locations)[item] = k.loc;
    if (v.IsNull()) {  // e.g. a template of an unset key: the tag is kept, empty
      out[k.text] = "";
      continue;
    }
    if (!v.IsScalar()) {
      Report(ctx, item, v.loc, "expected a single value, found " + Show(v));
      ok = false;
      continue;
    }
    out[k.text] = v.text;
  }
  return ok;
}

bool ExpandColumns(ReadContext& ctx, const Node& seq, const std::string& path,
                   std::vector<std::string>& out) {
  out.clear();
  bool ok = true;
  for (std::size_t i = 0; i < seq.items.size(); ++i) {
    const Node& item = seq.items[i];
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!item.IsScalar()) {
      Report(ctx, item_path, item.loc, "expected a column name, found " + Show(item));
      ok = false;
      continue;
    }
    if (item.text != "..." || item.quoted) {
      out.push_back(item.text);
      continue;
    }
    // `a_1, ..., a_9`: the names between the one before and the one after (`prev` is a copy:
    // `out` grows below).
    const std::string prev = out.empty() ? "" : out.back();
    const std::string next =
        i + 1 < seq.items.size() && seq.items[i + 1].IsScalar() ? seq.items[i + 1].text : "";
    const NumberedName a = SplitNumbered(prev), b = SplitNumbered(next);
    if (a.digits.empty() || b.digits.empty() || a.prefix != b.prefix) {
      Report(ctx, item_path, item.loc,
             "`...` must stand between two names with the same prefix and a number, as in "
             "`pixel_0, ..., pixel_63`");
      ok = false;
      continue;
    }
    const std::string& prefix = a.prefix;
    long from = 0, to = 0;
    const bool parsed =
        std::from_chars(a.digits.data(), a.digits.data() + a.digits.size(), from).ec ==
            std::errc() &&
        std::from_chars(b.digits.data(), b.digits.data() + b.digits.size(), to).ec == std::errc();
    if (!parsed || to - from > 1000000) {
      Report(ctx, item_path, item.loc,
             "the range `" + prev + ", ..., " + next + "` is too large (over a million columns)");
      ok = false;
      continue;
    }
    if (to <= from) {
      Report(
          ctx, item_path, item.loc,
          "the range `" + prev + ", ..., " + next + "` is empty: the second number must be larger");
      ok = false;
      continue;
    }
    if (out.size() + static_cast<std::size_t>(to - from) > Limits::kMaxColumns) {
      Report(ctx, item_path, item.loc,
             "the list names more than " + std::to_string(Limits::kMaxColumns) +
                 " columns once its `...` ranges are expanded");
      return false;
    }
    for (long k = from + 1; k < to; ++k) out.push_back(prefix + std::to_string(k));
  }
  return ok;
}

void Reader::ExplainKey(std::size_t before, const std::string& path, const char* name,
                        const Rule& rule) {
  if (rule.doc.empty()) return;
  for (std::size_t i = before; i < ctx_.diags->size(); ++i) {
    Diagnostic& d = (*ctx_.diags)[i];
    const bool about_value = d.path == path || StartsWith(d.path, path + "[");
    if (about_value && d.hints.empty())
      d.hints.push_back("`" + std::string(name) + "`: " + rule.doc);
  }
}

void Reader::RejectUnknown() {
  for (const auto& [key, value] : node_.entries) {
    if (std::find(known_.begin(), known_.end(), key.text) != known_.end()) continue;
    const std::string path_text = path_.empty() ? key.text : path_ + "." + key.text;
    if (ctx_.diags->size() >= Limits::kMaxDiagnostics) {  // counted, not explained (LoadText)
      Report(ctx_, path_text, key.loc, "unknown key `" + key.text + "` " + Where(path_));
      continue;
    }
    const std::string path = path_.empty() ? key.text : path_ + "." + key.text;
    std::vector<std::string> hints;
    const std::string foreign = ForeignKeyHint(path_, key.text);
    const std::vector<std::string> close = Suggest(key.text, known_);
    if (!close.empty()) {
      hints.push_back(DidYouMean(close));
    } else if (!foreign.empty()) {
      hints.push_back(foreign);
    } else {
      hints.push_back("valid keys " + Where(path_) + ": " + JoinQuoted(known_));
    }
    Report(ctx_, path, key.loc, "unknown key `" + key.text + "` " + Where(path_), hints);
  }
}

void Reader::RequireExactlyOne() {
  if (node_.entries.empty()) {
    Report(ctx_, path_, node_.loc, "empty item: name one kind, e.g. `- linear: {...}`");
  } else if (node_.entries.size() > 1) {
    const auto& second = node_.entries[1].first;
    Report(ctx_, path_, second.loc,
           "an item names exactly one kind, found `" + node_.entries[0].first.text + "` and `" +
               second.text + "`",
           {"start a new list item with `- " + second.text + ":`, or indent `" + second.text +
            "` under `" + node_.entries[0].first.text + "`"});
  }
}

}  // namespace entrenar::manifest

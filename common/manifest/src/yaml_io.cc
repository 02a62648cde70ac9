// The only file that touches yaml-cpp: YAML text <-> Node.
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "entrenar/base/strings.h"
#include "entrenar/expr/value.h"
#include "entrenar/manifest/limits.h"

#include "node.h"
#include "scalar.h"

namespace entrenar::manifest {
namespace {

Location At(const YAML::Mark& m, const std::string& file) {
  if (m.line < 0) return Location{file, 0, 0};
  return Location{file, m.line + 1, m.column + 1};
}

// YAML::Node -> Node, bounded: an alias is a reference, and expanding one that contains itself
// (`a: &a [*a]`) or nesting aliases ten deep would never end or would fill memory, so the
// conversion counts every node it makes and refuses recursion, depth and size past Limits.
class Converter {
 public:
  Converter(const std::string& file, std::vector<Diagnostic>* diags) : file_(file), diags_(diags) {}

  Node Convert(const YAML::Node& y, const Location& fallback) {
    Location loc = At(y.Mark(), file_);
    if (loc.line == 0) loc = fallback;
    if (failed_) return Node::Null(loc);
    if (++nodes_ > Limits::kMaxNodes) {
      return Refuse(loc,
                    "the manifest has more than " + std::to_string(Limits::kMaxNodes) +
                        " values (aliases expanded)",
                    "a `*alias` repeats its anchor's whole value; write the values out, or "
                    "use fewer aliases of aliases");
    }
    if (y.IsSequence() || y.IsMap()) {
      for (const YAML::Node& up : path_) {
        if (up.is(y)) {
          return Refuse(loc, "an alias refers to a value that contains it (a loop)",
                        "an anchor's value cannot contain `*` of the same anchor");
        }
      }
      if (path_.size() >= static_cast<std::size_t>(Limits::kMaxDepth)) {
        return Refuse(loc,
                      "lists and mappings nest deeper than " + std::to_string(Limits::kMaxDepth),
                      "no manifest key is that deep; check the brackets");
      }
    }
    switch (y.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Node::Null(fallback.line ? fallback : loc);
      case YAML::NodeType::Scalar: {
        Node n = Node::Scalar(y.Scalar(), y.Tag() == "!", loc);
        if (y.Tag() == "!raw") {
          n.raw = true;
          n.quoted = true;
        }
        return n;
      }
      case YAML::NodeType::Sequence:
        return Seq(y, loc);
      case YAML::NodeType::Map:
        return Map(y, loc);
    }
    return Node::Null(loc);
  }

 private:
  Node Seq(const YAML::Node& y, const Location& loc) {
    Node n = Node::Seq(loc);
    path_.push_back(y);
    for (const YAML::Node& item : y) {
      n.items.push_back(Convert(item, loc));
      if (failed_) break;
    }
    path_.pop_back();
    return n;
  }

  Node Map(const YAML::Node& y, const Location& loc) {
    Node n = Node::Map(loc);
    path_.push_back(y);
    std::unordered_map<std::string, Location> seen;  // key -> where it was first set
    for (auto it = y.begin(); it != y.end() && !failed_; ++it) {
      Location key_loc = At(it->first.Mark(), file_);
      if (!it->first.IsScalar()) {
        diags_->push_back({Severity::kError, "", key_loc, "a key must be a plain word", {}});
        continue;
      }
      Node key = Node::Scalar(it->first.Scalar(), false, key_loc);
      if (const auto first = seen.find(key.text); first != seen.end()) {
        diags_->push_back({Severity::kError,
                           key.text,
                           key_loc,
                           "duplicate key `" + key.text + "`",
                           {"it was first set at line " + std::to_string(first->second.line) +
                            "; remove one of them"}});
        continue;
      }
      seen.emplace(key.text, key_loc);
      // A value written as nothing (`key:`) has no mark of its own: point at its key.
      Node value = Convert(it->second, key_loc);
      n.entries.emplace_back(std::move(key), std::move(value));
    }
    path_.pop_back();
    return n;
  }

  Node Refuse(const Location& loc, std::string message, std::string hint) {
    failed_ = true;
    diags_->push_back({Severity::kError, "", loc, std::move(message), {std::move(hint)}});
    return Node::Null(loc);
  }

  const std::string& file_;
  std::vector<Diagnostic>* diags_;
  std::vector<YAML::Node> path_;  // the lists and mappings being converted, outermost first
  std::size_t nodes_ = 0;
  bool failed_ = false;  // a limit was hit: the tree is not used
};

// Where each document of a YAML stream starts. yaml-cpp 0.7's LoadAll loops forever, allocating
// a null document a turn, on a token no document can start with (a stray `,` or `]`; fixed in
// yaml-cpp PR 1319, after Debian 12's version): the documents are only counted here, by a parser
// stopped when a document starts where the previous one did, and the first is loaded alone.
struct Documents {
  static constexpr std::size_t kMax = 16;  // more are not counted
  std::vector<YAML::Mark> starts;
  bool stuck = false;  // a document started where the last one did: a token nothing can use
};

class DocumentStarts final : public YAML::EventHandler {
 public:
  explicit DocumentStarts(std::vector<YAML::Mark>* starts) : starts_(starts) {}
  void OnDocumentStart(const YAML::Mark& mark) override { starts_->push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  std::vector<YAML::Mark>* starts_;
};

// Throws YAML::Exception for a syntax error, as YAML::Load does.
Documents CountDocuments(const std::string& text) {
  Documents docs;
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts handler(&docs.starts);
  while (docs.starts.size() < Documents::kMax && parser.HandleNextDocument(handler)) {
    const std::size_t n = docs.starts.size();
    if (n >= 2 && docs.starts[n - 1].pos == docs.starts[n - 2].pos) {
      docs.stuck = true;
      break;
    }
  }
  return docs;
}

}  // namespace

Node ParseYaml(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags) {
  if (text.size() > Limits::kMaxBytes) {
    diags->push_back({Severity::kError,
                      "",
                      Location{file, 1, 1},
                      "the manifest is " + std::to_string(text.size()) + " bytes, more than the " +
                          std::to_string(Limits::kMaxBytes) + " a manifest may have",
                      {"keep data out of the manifest: name files in `data.*` instead"}});
    return Node::Null(Location{file, 1, 1});
  }
  if (const std::optional<Utf8Error> bad = FirstUtf8Error(text)) {
    diags->push_back(
        {Severity::kError,
         "",
         Location{file, bad->line, bad->column},
         "the manifest is not UTF-8 text: byte " + bad->byte + " does not begin a UTF-8 character",
         {"save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"}});
    return Node::Null(Location{file, 1, 1});
  }
  YAML::Node first;
  Documents docs;
  try {
    docs = CountDocuments(text);
    if (!docs.stuck) first = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Location loc = At(e.mark, file);
    if (loc.line == 0) loc = Location{file, 1, 1};
    diags->push_back({Severity::kError,
                      "",
                      loc,
                      "not valid YAML: " + e.msg,
                      {"check the indentation and that every [ { and quote is closed"}});
    return Node::Null(Location{file, 1, 1});
  }
  if (docs.stuck) {
    const Location at = At(docs.starts.back(), file);
    const std::size_t offset = static_cast<std::size_t>(docs.starts.back().pos);
    const std::string token = offset < text.size() ? text.substr(offset, 1) : "end of file";
    diags->push_back({Severity::kError,
                      "",
                      at,
                      "not valid YAML: `" + token + "` where a value was expected",
                      {"check the indentation and that every [ { and quote is closed"}});
    return Node::Null(Location{file, 1, 1});
  }
  if (docs.starts.size() > 1) {
    const std::string count = docs.starts.size() < Documents::kMax
                                  ? std::to_string(docs.starts.size())
                                  : "at least " + std::to_string(Documents::kMax);
    diags->push_back({Severity::kError,
                      "",
                      At(docs.starts[1], file),
                      "a manifest is one YAML document, found " + count,
                      {"remove the `---` separators"}});
  }
  if (docs.starts.empty()) return Node::Null(Location{file, 1, 1});
  return Converter(file, diags).Convert(first, Location{file, 1, 1});
}

namespace {

void Emit(YAML::Emitter& out, const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull:
      out << YAML::Null;
      break;
    case Node::Kind::kScalar:
      if (n.quoted && LooksTyped(n.text)) {
        out << YAML::DoubleQuoted << n.text;
      } else {
        out << n.text;
      }
      break;
    case Node::Kind::kSeq: {
      bool flat = !n.items.empty();
      for (const Node& item : n.items) flat = flat && item.IsScalar();
      if (flat) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const Node& item : n.items) Emit(out, item);
      out << YAML::EndSeq;
      break;
    }
    case Node::Kind::kMap:
      if (n.entries.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [k, v] : n.entries) {
        out << YAML::Key << k.text << YAML::Value;
        Emit(out, v);
      }
      out << YAML::EndMap;
      break;
  }
}

nlohmann::ordered_json ToJsonValue(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull:
      return nullptr;
    case Node::Kind::kScalar: {
      if (n.quoted) return n.text;
      const ScalarValue v = ClassifyScalar(n.text);
      switch (v.kind) {
        case ScalarKind::kNull:
          return nullptr;
        case ScalarKind::kBool:
          return v.b;
        case ScalarKind::kInt:
          return v.i;
        case ScalarKind::kFloat:
          return v.f;
        default:
          return n.text;
      }
    }
    case Node::Kind::kSeq: {
      auto arr = nlohmann::ordered_json::array();
      for (const Node& item : n.items) arr.push_back(ToJsonValue(item));
      return arr;
    }
    case Node::Kind::kMap: {
      auto obj = nlohmann::ordered_json::object();
      for (const auto& [k, v] : n.entries) obj[k.text] = ToJsonValue(v);
      return obj;
    }
  }
  return nullptr;
}

}  // namespace

std::string EmitYaml(const Node& n) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(out, n);
  return std::string(out.c_str()) + "\n";
}

std::string EmitJson(const Node& n, int indent) {
  return ToJsonValue(n).dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Node::Describe() const {
  switch (kind) {
    case Kind::kNull:
      return "nothing (null)";
    case Kind::kSeq:
      return "a list";
    case Kind::kMap:
      return "a mapping";
    case Kind::kScalar:
      if (quoted) return "the string \"" + text + "\"";
      return "`" + text + "`";
  }
  return "?";
}

}  // namespace entrenar::manifest

// The only file that touches yaml-cpp: YAML text <-> Node.
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "entrenar/expr/value.h"

#include "node.h"
#include "scalar.h"

namespace entrenar::manifest {
namespace {

Location At(const YAML::Mark& m, const std::string& file) {
  if (m.line < 0) return Location{file, 0, 0};
  return Location{file, m.line + 1, m.column + 1};
}

Node Convert(const YAML::Node& y, const std::string& file, const Location& fallback,
             std::vector<Diagnostic>* diags) {
  Location loc = At(y.Mark(), file);
  if (loc.line == 0) loc = fallback;
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
    case YAML::NodeType::Sequence: {
      Node n = Node::Seq(loc);
      for (const YAML::Node& item : y) n.items.push_back(Convert(item, file, loc, diags));
      return n;
    }
    case YAML::NodeType::Map: {
      Node n = Node::Map(loc);
      for (auto it = y.begin(); it != y.end(); ++it) {
        Location key_loc = At(it->first.Mark(), file);
        if (!it->first.IsScalar()) {
          diags->push_back({Severity::kError, "", key_loc, "a key must be a plain word", {}});
          continue;
        }
        Node key = Node::Scalar(it->first.Scalar(), false, key_loc);
        if (n.FindEntry(key.text)) {
          const Location first = n.FindEntry(key.text)->first.loc;
          diags->push_back({Severity::kError,
                            key.text,
                            key_loc,
                            "duplicate key `" + key.text + "`",
                            {"it was first set at line " + std::to_string(first.line) +
                             "; remove one of them"}});
          continue;
        }
        // A value written as nothing (`key:`) has no mark of its own: point at its key.
        Node value = Convert(it->second, file, key_loc, diags);
        n.entries.emplace_back(std::move(key), std::move(value));
      }
      return n;
    }
  }
  return Node::Null(loc);
}

}  // namespace

Node ParseYaml(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
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
  if (docs.size() > 1) {
    diags->push_back({Severity::kError,
                      "",
                      At(docs[1].Mark(), file),
                      "a manifest is one YAML document, found " + std::to_string(docs.size()),
                      {"remove the `---` separators"}});
  }
  if (docs.empty()) return Node::Null(Location{file, 1, 1});
  return Convert(docs[0], file, Location{file, 1, 1}, diags);
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

std::string EmitJson(const Node& n, int indent) { return ToJsonValue(n).dump(indent); }

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

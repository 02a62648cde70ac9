// Resolves `{{ }}` templates in the Node tree (SPEC §13).
#include <chrono>
#include <cstdlib>
#include <ctime>

#include "entrenar/base/clock.h"
#include "entrenar/expr/template.h"

#include "describe.h"
#include "pipeline.h"
#include "scalar.h"

namespace entrenar::manifest {
namespace {

using expr::Outcome;
using expr::PathSeg;
using expr::Value;

const std::vector<std::string> kBuiltins = {"name", "version", "seed", "timestamp", "date", "env"};

Value NodeToValue(const Node& n) {
  switch (n.kind) {
    case Node::Kind::kNull:
      return Value::Null();
    case Node::Kind::kScalar: {
      if (n.quoted) return Value::String(n.text);
      const ScalarValue v = ClassifyScalar(n.text);
      switch (v.kind) {
        case ScalarKind::kNull:
          return Value::Null();
        case ScalarKind::kBool:
          return Value::Bool(v.b);
        case ScalarKind::kInt:
          return Value::Int(v.i);
        case ScalarKind::kFloat:
          return Value::Float(v.f);
        case ScalarKind::kString:
          return Value::String(n.text);
      }
      return Value::String(n.text);
    }
    case Node::Kind::kSeq: {
      std::vector<Value> items;
      for (const Node& item : n.items) items.push_back(NodeToValue(item));
      return Value::List(std::move(items));
    }
    case Node::Kind::kMap:
      return Value::Undefined("a section has no single value");
  }
  return Value::Null();
}

Node ValueToNode(const Value& v, const Location& at) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNull:
      return Node::Null(at);
    case Value::Kind::kString:
      return Node::Scalar(v.s, true, at);
    case Value::Kind::kList: {
      Node seq = Node::Seq(at);
      for (const Value& item : v.list) seq.items.push_back(ValueToNode(item, at));
      return seq;
    }
    default:
      return Node::Scalar(v.ToString(), false, at);
  }
}

// The spec of the key at `path`, or nullptr; `missing` gets the first segment that is not a key.
const KeySpec* SpecAt(const std::vector<PathSeg>& path, std::size_t* missing) {
  const KeySpec* cur = &ManifestSpec();
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i].index) {
      if (cur->type != KeySpec::Type::kList) {
        *missing = i;
        return nullptr;
      }
      cur = &cur->item[0];
      continue;
    }
    const KeySpec* next = nullptr;
    for (const KeySpec& c : cur->children) {
      if (c.name == path[i].name) next = &c;
    }
    if (!next) {
      *missing = i;
      return nullptr;
    }
    cur = next;
  }
  return cur;
}

class Resolver : public expr::Scope {
 public:
  Resolver(Node& root, const LoadOptions& options, std::vector<Diagnostic>* diags)
      : root_(root),
        options_(options),
        diags_(diags),
        defaults_(WriteValue(Manifest{})),
        timestamp_(options.timestamp.empty() ? NowUtcIso() : options.timestamp) {}

  void ResolveAll(Node& n, const std::string& path) {
    if (n.IsScalar()) {
      if (!n.raw && !n.resolved && expr::Template::HasTemplate(n.text)) Resolve(n, path);
      return;
    }
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      ResolveAll(n.items[i], path + "[" + std::to_string(i) + "]");
    }
    for (auto& [k, v] : n.entries) ResolveAll(v, path.empty() ? k.text : path + "." + k.text);
  }

  Outcome<Value> Lookup(const std::vector<PathSeg>& path) override {
    const std::string& head = path[0].name;
    if (head == "env") {
      if (path.size() != 2 || path[1].index) {
        return expr::Error{path[0].offset, "write an environment variable as `env.NAME`", ""};
      }
      const auto value = options_.getenv ? options_.getenv(path[1].name) : Getenv(path[1].name);
      if (!value) return Value::Undefined("environment variable " + path[1].name + " is not set");
      return Value::String(*value);
    }
    if (path.size() == 1 && head == "timestamp") return Value::String(timestamp_);
    if (path.size() == 1 && head == "date") return Value::String(timestamp_.substr(0, 10));
    const std::string key = expr::PathToString(path);
    std::size_t missing = 0;
    if (!SpecAt(path, &missing)) return UnknownName(path, missing);
    if (Node* n = Find(root_, path)) {
      if (n->IsScalar() && !n->raw && !n->resolved && expr::Template::HasTemplate(n->text)) {
        for (std::size_t i = 0; i < stack_.size(); ++i) {
          if (stack_[i] == key) {
            std::vector<std::string> cycle(stack_.begin() + static_cast<long>(i), stack_.end());
            cycle.push_back(key);
            return expr::Error{path[0].offset,
                               "templates refer to each other in a cycle: " + Join(cycle, " -> "),
                               ""};
          }
        }
        if (!Resolve(*n, key)) {
          return expr::Error{path[0].offset, "`" + key + "` has an invalid template", ""};
        }
      }
      if (n->IsMap())
        return expr::Error{path[0].offset, "`" + key + "` is a section, not a value",
                           "refer to one of its keys"};
      return NodeToValue(*n);
    }
    if (const Node* d = Find(defaults_, path)) return NodeToValue(*d);
    return Value::Null();  // a valid key without a default, left unset
  }

 private:
  static std::optional<std::string> Getenv(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  }

  static Node* Find(Node& root, const std::vector<PathSeg>& path) {
    Node* cur = &root;
    for (const PathSeg& seg : path) {
      if (seg.index) {
        if (!cur->IsSeq() || *seg.index < 0 ||
            static_cast<std::size_t>(*seg.index) >= cur->items.size()) {
          return nullptr;
        }
        cur = &cur->items[static_cast<std::size_t>(*seg.index)];
      } else {
        if (!cur->IsMap()) return nullptr;
        cur = cur->Find(seg.name);
        if (!cur) return nullptr;
      }
    }
    return cur;
  }

  Outcome<Value> UnknownName(const std::vector<PathSeg>& path, std::size_t missing) {
    std::vector<PathSeg> parent(path.begin(), path.begin() + static_cast<long>(missing));
    std::vector<std::string> candidates;
    std::size_t ignored = 0;
    if (const KeySpec* spec = SpecAt(parent, &ignored)) {
      for (const KeySpec& c : spec->children) candidates.push_back(c.name);
    }
    if (missing == 0) candidates.insert(candidates.end(), kBuiltins.begin(), kBuiltins.end());
    const std::string name =
        path[missing].index ? "[" + std::to_string(*path[missing].index) + "]" : path[missing].name;
    const std::string where = missing == 0 ? "" : " in `" + expr::PathToString(parent) + "`";
    std::string hint = DidYouMean(Suggest(name, candidates));
    if (hint.empty() && missing == 0) {
      hint =
          "templates can use name, version, seed, timestamp, date, env.VAR and manifest keys "
          "such as data.loader.batch_size";
    }
    return expr::Error{path[missing].offset, "unknown name `" + name + "`" + where, hint};
  }

  // Evaluates the template in `n` and replaces it by its value. Returns false after reporting.
  bool Resolve(Node& n, const std::string& path) {
    const int quote = n.quoted ? 1 : 0;
    Outcome<expr::Template> t = expr::Template::Parse(n.text);
    if (!t.ok()) {
      Fail(n, path, t.error(), quote);
      return false;
    }
    stack_.push_back(path);
    Outcome<Value> v = t.value().Render(*this);
    stack_.pop_back();
    if (!v.ok()) {
      Fail(n, path, v.error(), quote);
      return false;
    }
    Node resolved = ValueToNode(v.value(), n.loc);
    resolved.resolved = true;
    n = std::move(resolved);
    return true;
  }

  void Fail(Node& n, const std::string& path, const expr::Error& e, int quote) {
    Location at = n.loc;
    at.column += static_cast<int>(e.offset) + quote;
    std::vector<std::string> hints;
    if (!e.hint.empty()) hints.push_back(e.hint);
    diags_->push_back({Severity::kError, path, at, "template: " + e.message, hints});
    // Leave a null so later stages do not report the raw template text again.
    n = Node::Null(n.loc);
    n.resolved = true;
  }

  Node& root_;
  const LoadOptions& options_;
  std::vector<Diagnostic>* diags_;
  Node defaults_;
  std::string timestamp_;
  std::vector<std::string> stack_;  // paths being resolved, for cycle detection
};

}  // namespace

void ResolveTemplates(Node& root, const LoadOptions& options, std::vector<Diagnostic>* diags) {
  Resolver r(root, options, diags);
  r.ResolveAll(root, "");
}

}  // namespace entrenar::manifest

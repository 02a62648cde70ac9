#pragma once

// Reader: Node tree -> typed structs, reporting every type, range and unknown-key problem with
// its key path and location. Walks the Visit functions of visit.h.
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "entrenar/base/strings.h"

#include "node.h"
#include "rule.h"
#include "visit.h"

namespace entrenar::manifest {

struct ReadContext {
  std::vector<Diagnostic>* diags;
  std::map<std::string, Location>* locations;
};

void Report(ReadContext& ctx, const std::string& path, const Location& loc, std::string message,
            std::vector<std::string> hints = {});

// Scalar readers; each returns false (after reporting) when the node does not fit.
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, bool& out, const Rule& r);
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, std::int64_t& out,
                const Rule& r);
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, double& out,
                const Rule& r);
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, std::string& out,
                const Rule& r);
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, Duration& out,
                const Rule& r);
bool ReadScalar(ReadContext& ctx, const Node& n, const std::string& path, NumberOrWord& out,
                const Rule& r);
bool ReadStringMap(ReadContext& ctx, const Node& n, const std::string& path,
                   std::map<std::string, std::string>& out);
// Expands `a_1, ..., a_9` ranges in a list of column names, reporting malformed ones.
bool ExpandColumns(ReadContext& ctx, const Node& seq, const std::string& path,
                   std::vector<std::string>& out);

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

template <typename T>
constexpr bool kIsStruct =
    std::is_class_v<T> && !std::is_same_v<T, std::string> && !std::is_same_v<T, Duration> &&
    !std::is_same_v<T, NumberOrWord> && !IsOptional<T>::value && !IsVector<T>::value &&
    !std::is_same_v<T, std::map<std::string, std::string>>;

class Reader;
template <typename T>
void ReadValue(ReadContext& ctx, const Node& n, const std::string& path, T& out, const Rule& r);

// Reads the keys of one mapping into one struct.
class Reader {
 public:
  Reader(ReadContext& ctx, const Node& node, std::string path)
      : ctx_(ctx), node_(node), path_(std::move(path)) {}

  template <typename T>
  void Key(const char* name, T& field, const Rule& rule) {
    known_.emplace_back(name);
    const auto* entry = node_.FindEntry(name);
    const std::string path = Join(name);
    if (!entry) {
      if (rule.required) {
        Report(ctx_, path, node_.loc, "missing required key `" + std::string(name) + "`",
               {"add `" + std::string(name) + ":` (" + rule.doc + ")"});
      }
      return;
    }
    (*ctx_.locations)[path] = entry->first.loc;
    const std::size_t before = ctx_.diags->size();
    ReadValue(ctx_, entry->second, path, field, rule);
    ExplainKey(before, path, name, rule);
  }

  template <typename T>
  void Variant(const char* name, std::optional<T>& field, const Rule& rule) {
    known_.emplace_back(name);
    const auto* entry = node_.FindEntry(name);
    if (!entry) return;
    const std::string path = Join(name);
    (*ctx_.locations)[path] = entry->first.loc;
    field.emplace();
    const Node& value = entry->second;
    if ((value.IsScalar() || value.IsSeq()) && !rule.shorthand.empty()) {
      // `dropout: 0.2` means `dropout: {p: 0.2}`; `reshape: [1, 8, 8]` means `{shape: [...]}`.
      Node expanded = Node::Map(value.loc);
      expanded.Set(rule.shorthand, value, value.loc);
      ReadValue(ctx_, expanded, path, *field, rule);
    } else if (value.IsNull()) {
      // `- flatten:` with no options takes every default.
      ReadValue(ctx_, Node::Map(value.loc), path, *field, rule);
    } else {
      ReadValue(ctx_, value, path, *field, rule);
    }
  }

  // Gives the errors reported since `before` about the value of `path` (or its items) that have
  // no hint of their own the key's description as one.
  void ExplainKey(std::size_t before, const std::string& path, const char* name, const Rule& rule);
  // Reports every key of the mapping that no Key/Variant call asked for.
  void RejectUnknown();
  // Checks that a one-of item has exactly one known key.
  void RequireExactlyOne();

 private:
  std::string Join(const char* name) const {
    return path_.empty() ? std::string(name) : path_ + "." + name;
  }

  ReadContext& ctx_;
  const Node& node_;
  std::string path_;
  std::vector<std::string> known_;
};

template <typename T>
void ReadStruct(ReadContext& ctx, const Node& n, const std::string& path, T& out) {
  if (n.IsNull()) return;  // `section:` with nothing keeps the defaults
  if (!n.IsMap()) {
    Report(ctx, path, n.loc, "expected a mapping of keys, found " + n.Describe(),
           {"indent the keys of `" + path + "` under it"});
    return;
  }
  Reader reader(ctx, n, path);
  Visit(reader, out);
  reader.RejectUnknown();
}

template <typename T>
void ReadOneOf(ReadContext& ctx, const Node& n, const std::string& path, T& out) {
  if (n.IsScalar() && !n.quoted) {
    // `- flatten` names a kind with no options.
    Node expanded = Node::Map(n.loc);
    expanded.Set(n.text, Node::Null(n.loc), n.loc);
    ReadOneOf(ctx, expanded, path, out);
    return;
  }
  if (!n.IsMap()) {
    Report(ctx, path, n.loc,
           "expected a mapping with one key naming the kind, found " + n.Describe());
    return;
  }
  Reader reader(ctx, n, path);
  reader.RequireExactlyOne();
  Visit(reader, out);
  reader.RejectUnknown();
}

template <typename T>
void ReadValue(ReadContext& ctx, const Node& n, const std::string& path, T& out, const Rule& r) {
  if constexpr (IsOptional<T>::value) {
    if (n.IsNull()) {
      out.reset();
      return;
    }
    const std::size_t before = ctx.diags->size();
    out.emplace();
    ReadValue(ctx, n, path, *out, r);
    if (ctx.diags->size() > before && !n.IsMap() && !n.IsSeq()) out.reset();  // keep it unset
  } else if constexpr (IsVector<T>::value) {
    using Item = typename T::value_type;
    if (!n.IsSeq()) {
      std::vector<std::string> hints;
      if (n.IsScalar()) hints.push_back("write a list: [" + n.text + "]");
      Report(ctx, path, n.loc, "expected a list, found " + n.Describe(), hints);
      return;
    }
    if constexpr (std::is_same_v<Item, std::string>) {
      if (r.format == "columns") {
        ExpandColumns(ctx, n, path, out);
        return;
      }
    }
    out.clear();
    for (std::size_t i = 0; i < n.items.size(); ++i) {
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      (*ctx.locations)[item_path] = n.items[i].loc;
      Item item{};
      if constexpr (IsOneOf<Item>::value) {
        ReadOneOf(ctx, n.items[i], item_path, item);
      } else if constexpr (kIsStruct<Item>) {
        ReadStruct(ctx, n.items[i], item_path, item);
      } else {
        Rule item_rule = r;
        item_rule.non_empty = false;
        ReadScalar(ctx, n.items[i], item_path, item, item_rule);
      }
      out.push_back(std::move(item));
    }
    if (r.length && n.items.size() != *r.length) {
      Report(ctx, path, n.loc,
             "expected a list of " + std::to_string(*r.length) + " items, found " +
                 std::to_string(n.items.size()));
    } else if (r.non_empty && n.items.empty()) {
      Report(ctx, path, n.loc, "expected a non-empty list, found []");
    }
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    ReadStringMap(ctx, n, path, out);
  } else if constexpr (IsOneOf<T>::value) {
    ReadOneOf(ctx, n, path, out);
  } else if constexpr (kIsStruct<T>) {
    ReadStruct(ctx, n, path, out);
  } else {
    ReadScalar(ctx, n, path, out, r);
  }
}

}  // namespace entrenar::manifest

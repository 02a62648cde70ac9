#pragma once

// Describer: the manifest's shape as data (key names, types, rules, defaults), for the key list,
// the JSON Schema and docs/manifest.md. Walks visit.h.
#include <string>
#include <vector>

#include "reader.h"
#include "writer.h"

namespace entrenar::manifest {

struct KeySpec {
  enum class Type {
    kBool,
    kInt,
    kNumber,
    kString,
    kDuration,
    kNumberOrWord,
    kStringMap,
    kObject,
    kList,   // list of `item`
    kOneOf,  // an object with exactly one of `children` (an item of a one-of list)
  };
  std::string name;
  Type type = Type::kString;
  Rule rule;
  bool optional = false;          // std::optional: no default
  Node default_value;             // as written by the Writer (null when optional)
  std::vector<KeySpec> children;  // kObject: its keys; kOneOf: its kinds
  std::vector<KeySpec> item;      // kList: exactly one spec, the item's
};

template <typename T>
KeySpec DescribeType(const T& value, const Rule& rule);

class Describer {
 public:
  explicit Describer(std::vector<KeySpec>* out) : out_(out) {}
  template <typename T>
  void Key(const char* name, T& field, const Rule& rule) {
    KeySpec spec = DescribeType(field, rule);
    spec.name = name;
    out_->push_back(std::move(spec));
  }
  template <typename T>
  void Variant(const char* name, std::optional<T>& field, const Rule& rule) {
    (void)field;
    KeySpec spec = DescribeType(T{}, rule);
    spec.name = name;
    out_->push_back(std::move(spec));
  }

 private:
  std::vector<KeySpec>* out_;
};

template <typename T>
KeySpec DescribeType(const T& value, const Rule& rule) {
  KeySpec s;
  s.rule = rule;
  if constexpr (IsOptional<T>::value) {
    s = DescribeType(typename T::value_type{}, rule);
    s.optional = true;
    s.default_value = Node::Null({});
    return s;
  } else {
    s.default_value = WriteValue(value);
    if constexpr (IsVector<T>::value) {
      using Item = typename T::value_type;
      s.type = KeySpec::Type::kList;
      Rule item_rule = rule;
      item_rule.required = false;
      item_rule.non_empty = false;
      item_rule.length.reset();
      item_rule.doc.clear();
      s.item.push_back(DescribeType(Item{}, item_rule));
    } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
      s.type = KeySpec::Type::kStringMap;
    } else if constexpr (std::is_same_v<T, bool>) {
      s.type = KeySpec::Type::kBool;
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      s.type = KeySpec::Type::kInt;
    } else if constexpr (std::is_same_v<T, double>) {
      s.type = KeySpec::Type::kNumber;
    } else if constexpr (std::is_same_v<T, std::string>) {
      s.type = KeySpec::Type::kString;
    } else if constexpr (std::is_same_v<T, Duration>) {
      s.type = KeySpec::Type::kDuration;
    } else if constexpr (std::is_same_v<T, NumberOrWord>) {
      s.type = KeySpec::Type::kNumberOrWord;
    } else {
      s.type = IsOneOf<T>::value ? KeySpec::Type::kOneOf : KeySpec::Type::kObject;
      Describer d(&s.children);
      T copy = value;
      Visit(d, copy);
    }
    return s;
  }
}

// The root of the manifest's description (cached; built once).
const KeySpec& ManifestSpec();

}  // namespace entrenar::manifest

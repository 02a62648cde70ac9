#pragma once

// Writer: typed structs -> Node tree (every key, defaults included). Walks visit.h.
#include "entrenar/expr/value.h"

#include "node.h"
#include "reader.h"

namespace entrenar::manifest {

template <typename T>
Node WriteValue(const T& v);

class Writer {
 public:
  explicit Writer(Node* out) : out_(out) {}

  template <typename T>
  void Key(const char* name, T& field, const Rule&) {
    if constexpr (IsOptional<T>::value) {
      if (!field) return;
    }
    out_->Set(name, WriteValue(field));
  }
  template <typename T>
  void Variant(const char* name, std::optional<T>& field, const Rule&) {
    if (field) out_->Set(name, WriteValue(*field));
  }

 private:
  Node* out_;
};

inline Node WriteScalar(std::string text, bool quoted) {
  return Node::Scalar(std::move(text), quoted, Location{});
}

template <typename T>
Node WriteValue(const T& v) {
  if constexpr (IsOptional<T>::value) {
    return v ? WriteValue(*v) : Node::Null({});
  } else if constexpr (IsVector<T>::value) {
    Node seq = Node::Seq();
    for (const auto& item : v) seq.items.push_back(WriteValue(item));
    return seq;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    Node map = Node::Map();
    for (const auto& [k, val] : v) map.Set(k, WriteScalar(val, true));
    return map;
  } else if constexpr (std::is_same_v<T, bool>) {
    return WriteScalar(v ? "true" : "false", false);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return WriteScalar(std::to_string(v), false);
  } else if constexpr (std::is_same_v<T, double>) {
    return WriteScalar(expr::FormatDouble(v), false);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return WriteScalar(v, true);
  } else if constexpr (std::is_same_v<T, Duration>) {
    return WriteScalar(v.text, true);
  } else if constexpr (std::is_same_v<T, NumberOrWord>) {
    return v.number ? WriteScalar(expr::FormatDouble(*v.number), false) : WriteScalar(v.word, true);
  } else {
    Node map = Node::Map();
    Writer w(&map);
    Visit(w, const_cast<T&>(v));
    return map;
  }
}

// Writes only the keys recorded in `written` (the manifest's locations: what its author wrote,
// overrides included), so the result, loaded again, leaves the rest to the defaults.
class WrittenWriter {
 public:
  WrittenWriter(Node* out, const std::map<std::string, Location>& written, std::string path)
      : out_(out), written_(written), path_(std::move(path)) {}

  template <typename T>
  void Key(const char* name, T& field, const Rule&) {
    const std::string path = Join(name);
    if (!written_.count(path)) return;
    if constexpr (IsOptional<T>::value) {
      out_->Set(name, field ? Value(*field, path) : Node::Null({}));  // `key: null` stays written
    } else {
      out_->Set(name, Value(field, path));
    }
  }
  template <typename T>
  void Variant(const char* name, std::optional<T>& field, const Rule&) {
    const std::string path = Join(name);
    if (field && written_.count(path)) out_->Set(name, Value(*field, path));
  }

 private:
  std::string Join(const char* name) const { return path_.empty() ? name : path_ + "." + name; }

  template <typename T>
  Node Value(const T& v, const std::string& path) const {
    if constexpr (IsVector<T>::value) {
      using Item = typename T::value_type;
      if constexpr (std::is_class_v<Item> && !std::is_same_v<Item, std::string>) {
        Node seq = Node::Seq();
        for (std::size_t i = 0; i < v.size(); ++i) {
          seq.items.push_back(Value(v[i], path + "[" + std::to_string(i) + "]"));
        }
        return seq;
      } else {
        return WriteValue(v);
      }
    } else if constexpr (std::is_class_v<T> && !std::is_same_v<T, std::string> &&
                         !std::is_same_v<T, Duration> && !std::is_same_v<T, NumberOrWord> &&
                         !std::is_same_v<T, std::map<std::string, std::string>>) {
      Node map = Node::Map();
      WrittenWriter w(&map, written_, path);
      Visit(w, const_cast<T&>(v));
      return map;
    } else {
      return WriteValue(v);
    }
  }

  Node* out_;
  const std::map<std::string, Location>& written_;
  std::string path_;
};

}  // namespace entrenar::manifest

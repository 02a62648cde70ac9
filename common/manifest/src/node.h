#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entrenar/manifest/diagnostic.h"

namespace entrenar::manifest {

// Our own YAML tree: every node keeps its location, and scalars remember whether they were
// quoted. Decouples the rest of the library from yaml-cpp. Plain value type.
struct Node {
  enum class Kind { kNull, kScalar, kSeq, kMap };
  struct Entry;  // a key and its value (below: a Node is incomplete here)

  Kind kind = Kind::kNull;
  std::string text;            // kScalar: the text as written (without quotes)
  bool quoted = false;         // kScalar: written in quotes (so always a string)
  bool raw = false;            // tagged !raw: never templated
  bool resolved = false;       // produced by a template: not templated again
  Location loc;                // where the value starts
  std::vector<Node> items;     // kSeq
  std::vector<Entry> entries;  // kMap: key (a scalar) and value, in file order

  static Node Null(Location at);
  static Node Scalar(std::string text, bool quoted, Location at);
  static Node Map(Location at = {});
  static Node Seq(Location at = {});

  bool IsNull() const { return kind == Kind::kNull; }
  bool IsScalar() const { return kind == Kind::kScalar; }
  bool IsMap() const { return kind == Kind::kMap; }
  bool IsSeq() const { return kind == Kind::kSeq; }

  // The entry for `key` in a map, or nullptr.
  const Entry* FindEntry(std::string_view key) const;
  const Node* Find(std::string_view key) const;
  Node* Find(std::string_view key);
  // Adds or replaces `key`.
  Node& Set(const std::string& key, Node value, Location key_loc = {});

  // A short description for messages: "the string \"abc\"", "a list", "a mapping", "null".
  std::string Describe() const;
};

// Defined after Node, which it holds by value: std::pair<Node, Node> inside Node itself needs a
// complete Node (libstdc++ asserts it under clang).
struct Node::Entry {
  Entry(Node key, Node value) : first(std::move(key)), second(std::move(value)) {}
  Node first;   // the key, a scalar
  Node second;  // its value
};

inline Node Node::Null(Location at) {
  Node n;
  n.loc = std::move(at);
  return n;
}
inline Node Node::Scalar(std::string text, bool quoted, Location at) {
  Node n;
  n.kind = Kind::kScalar;
  n.text = std::move(text);
  n.quoted = quoted;
  n.loc = std::move(at);
  return n;
}
inline Node Node::Map(Location at) {
  Node n;
  n.kind = Kind::kMap;
  n.loc = std::move(at);
  return n;
}
inline Node Node::Seq(Location at) {
  Node n;
  n.kind = Kind::kSeq;
  n.loc = std::move(at);
  return n;
}
inline const Node::Entry* Node::FindEntry(std::string_view key) const {
  for (const auto& e : entries) {
    if (e.first.text == key) return &e;
  }
  return nullptr;
}
inline const Node* Node::Find(std::string_view key) const {
  const Entry* e = FindEntry(key);
  return e ? &e->second : nullptr;
}
inline Node* Node::Find(std::string_view key) {
  for (auto& e : entries) {
    if (e.first.text == key) return &e.second;
  }
  return nullptr;
}
inline Node& Node::Set(const std::string& key, Node value, Location key_loc) {
  if (Node* existing = Find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  entries.emplace_back(Scalar(key, false, std::move(key_loc)), std::move(value));
  return entries.back().second;
}

// Parses YAML text into a Node tree. Syntax errors, duplicate keys and multiple documents become
// diagnostics; on a syntax error the returned tree is null.
Node ParseYaml(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags);

// Emits a tree as block-style YAML (strings quoted where needed).
std::string EmitYaml(const Node& n);
// Emits a tree as JSON, typing plain scalars as YAML 1.2 core would (numbers, booleans, null).
std::string EmitJson(const Node& n, int indent = 2);

}  // namespace entrenar::manifest

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>

#include "pipeline.h"

namespace entrenar::manifest {
namespace {

struct Step {
  std::string name;
  std::optional<std::size_t> index;
};

bool ParsePath(const std::string& path, std::vector<Step>* steps) {
  std::size_t p = 0;
  while (p < path.size()) {
    std::size_t q = p;
    while (q < path.size() && (std::isalnum(static_cast<unsigned char>(path[q])) ||
                               path[q] == '_' || path[q] == '-')) {
      ++q;
    }
    if (q == p) return false;
    steps->push_back(Step{path.substr(p, q - p), std::nullopt});
    while (q < path.size() && path[q] == '[') {
      const std::size_t close = path.find(']', q);
      if (close == std::string::npos || close == q + 1) return false;
      const std::string digits = path.substr(q + 1, close - q - 1);
      for (char c : digits) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      }
      std::size_t index = 0;
      if (std::from_chars(digits.data(), digits.data() + digits.size(), index).ec != std::errc()) {
        return false;
      }
      steps->push_back(Step{"", index});
      q = close + 1;
    }
    if (q == path.size()) break;
    if (path[q] != '.') return false;
    p = q + 1;
    if (p == path.size()) return false;
  }
  return !steps->empty();
}

}  // namespace

bool ApplyOverride(Node& root, const std::string& arg, std::vector<Diagnostic>* diags) {
  const Location where{"--set " + arg, 0, 0};
  const std::size_t eq = arg.find('=');
  std::vector<Step> steps;
  if (eq == std::string::npos || !ParsePath(arg.substr(0, eq), &steps)) {
    diags->push_back({Severity::kError,
                      "",
                      where,
                      "expected --set PATH=VALUE",
                      {"e.g. --set optimizer.lr=3e-4 or --set callbacks[0].trigger=step"}});
    return false;
  }
  const std::string path = arg.substr(0, eq);
  std::vector<Diagnostic> value_diags;
  const std::string text = arg.substr(eq + 1);
  // `--set experiment={{ name }}-x` means the template, not a YAML flow mapping: a value that
  // starts with `{{` is a string, as if quoted.
  Node value = text.rfind("{{", 0) == 0 ? Node::Scalar(text, true, where)
                                        : ParseYaml(text, where.file, &value_diags);
  if (!value_diags.empty()) {
    for (Diagnostic& d : value_diags) {
      d.path = path;
      d.location = where;
      diags->push_back(std::move(d));
    }
    return false;
  }
  // Every node the override makes points at the argument.
  std::function<void(Node&)> relocate = [&](Node& n) {
    n.loc = where;
    for (Node& item : n.items) relocate(item);
    for (auto& [k, v] : n.entries) {
      k.loc = where;
      relocate(v);
    }
  };
  relocate(value);
  if (root.IsNull()) root = Node::Map(Location{where.file, 1, 1});
  Node* cur = &root;
  std::string walked;
  for (const Step& step : steps) {
    if (step.index) {
      if (cur->IsNull()) *cur = Node::Seq(where);
      if (!cur->IsSeq()) {
        diags->push_back(
            {Severity::kError,
             walked,
             where,
             "cannot index `" + walked + "`: it is " + cur->Describe() + ", not a list",
             {}});
        return false;
      }
      if (*step.index > cur->items.size()) {
        diags->push_back({Severity::kError,
                          walked,
                          where,
                          "`" + walked + "` has " + std::to_string(cur->items.size()) +
                              " items; index " + std::to_string(*step.index) + " is past the end",
                          {"use index " + std::to_string(cur->items.size()) + " to append"}});
        return false;
      }
      if (*step.index == cur->items.size()) cur->items.push_back(Node::Null(where));
      walked += "[" + std::to_string(*step.index) + "]";
      cur = &cur->items[*step.index];
      continue;
    }
    if (cur->IsNull()) *cur = Node::Map(where);
    if (!cur->IsMap()) {
      diags->push_back({Severity::kError,
                        walked,
                        where,
                        "cannot set `" + step.name + "` inside `" + walked + "`: it is " +
                            cur->Describe() + ", not a mapping",
                        {}});
      return false;
    }
    walked += (walked.empty() ? "" : ".") + step.name;
    Node* next = cur->Find(step.name);
    if (!next) next = &cur->Set(step.name, Node::Null(where), where);
    cur = next;
  }
  *cur = std::move(value);
  return true;
}

void ReplaceBudgetKeys(Node& root, const std::vector<std::string>& overrides,
                       std::vector<Diagnostic>* diags) {
  static const char* const kBudget[] = {"epochs", "max_steps", "duration"};
  std::vector<std::string> set;  // the budget keys the overrides give, and the first such --set
  std::string by;
  for (const std::string& arg : overrides) {
    const std::string path = arg.substr(0, arg.find('='));
    for (const char* key : kBudget) {
      if (path == std::string("training.") + key) {
        set.emplace_back(key);
        if (by.empty()) by = arg;
      }
    }
  }
  Node* training = root.IsMap() ? root.Find("training") : nullptr;
  if (set.empty() || !training || !training->IsMap()) return;
  auto& entries = training->entries;
  for (auto it = entries.begin(); it != entries.end();) {
    const std::string& key = it->first.text;
    const bool budget = std::find(std::begin(kBudget), std::end(kBudget), key) != std::end(kBudget);
    if (!budget || std::find(set.begin(), set.end(), key) != set.end()) {
      ++it;
      continue;
    }
    diags->push_back({Severity::kNote,
                      "training." + key,
                      it->first.loc,
                      "replaced by --set " + by + " (a run has one budget)",
                      {}});
    it = entries.erase(it);
  }
}

}  // namespace entrenar::manifest

// The manifest's description rendered as a key list, a JSON Schema and a Markdown reference.
#include "entrenar/manifest/schema.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "entrenar/base/strings.h"
#include "entrenar/base/version.h"
#include "entrenar/expr/value.h"

#include "describe.h"

namespace entrenar::manifest {
namespace {

using Json = nlohmann::ordered_json;

void CollectPaths(const KeySpec& spec, const std::string& path, std::vector<std::string>* out) {
  switch (spec.type) {
    case KeySpec::Type::kObject:
    case KeySpec::Type::kOneOf:
      for (const KeySpec& c : spec.children) {
        const std::string p = path.empty() ? c.name : path + "." + c.name;
        out->push_back(p);
        CollectPaths(c, p, out);
      }
      break;
    case KeySpec::Type::kList:
      CollectPaths(spec.item[0], path + "[]", out);
      break;
    default:
      break;
  }
}

Json Range(const Rule& r, Json j) {
  if (r.min) j[r.min_exclusive ? "exclusiveMinimum" : "minimum"] = *r.min;
  if (r.max) j[r.max_exclusive ? "exclusiveMaximum" : "maximum"] = *r.max;
  return j;
}

Json Words(const Rule& r) {
  Json words = Json::array();
  for (const std::string& w : r.one_of) words.push_back(w);
  for (const auto& a : r.aliases) {
    if (std::find(r.one_of.begin(), r.one_of.end(), a.second) != r.one_of.end()) {
      words.push_back(a.first);
    }
  }
  return words;
}

// A typed leaf may also be written as a `{{ }}` template string.
Json OrTemplate(Json j) { return Json{{"anyOf", {std::move(j), {{"$ref", "#/$defs/template"}}}}}; }

Json ToSchema(const KeySpec& s);

Json ObjectSchema(const KeySpec& s) {
  Json props = Json::object();
  Json required = Json::array();
  for (const KeySpec& c : s.children) {
    props[c.name] = ToSchema(c);
    if (c.rule.required) required.push_back(c.name);
  }
  Json j = {{"type", Json::array({"object", "null"})},
            {"properties", props},
            {"additionalProperties", false}};
  if (!required.empty()) j["required"] = required;
  return j;
}

Json OneOfSchema(const KeySpec& s) {
  Json options = Json::array();
  Json names = Json::array();
  for (const KeySpec& v : s.children) {
    Json value = ToSchema(v);
    if (!v.rule.shorthand.empty()) {
      for (const KeySpec& field : v.children) {
        if (field.name == v.rule.shorthand) value = Json{{"anyOf", {value, ToSchema(field)}}};
      }
    }
    options.push_back({{"type", "object"},
                       {"properties", {{v.name, value}}},
                       {"required", {v.name}},
                       {"additionalProperties", false}});
    names.push_back(v.name);
  }
  options.push_back({{"enum", names}});
  return Json{{"oneOf", options}};
}

Json ToSchema(const KeySpec& s) {
  Json j;
  switch (s.type) {
    case KeySpec::Type::kBool:
      j = OrTemplate({{"type", "boolean"}});
      break;
    case KeySpec::Type::kInt:
      j = OrTemplate(Range(s.rule, {{"type", "integer"}}));
      break;
    case KeySpec::Type::kNumber:
      j = OrTemplate(Range(s.rule, {{"type", "number"}}));
      break;
    case KeySpec::Type::kString:
      j = {{"type", "string"}};
      if (!s.rule.one_of.empty()) j = OrTemplate({{"enum", Words(s.rule)}});
      if (s.rule.non_empty && s.rule.one_of.empty()) j["minLength"] = 1;
      break;
    case KeySpec::Type::kDuration:
      j = {{"anyOf",
            {{{"type", "number"}, {"exclusiveMinimum", 0}},
             {{"type", "string"}, {"pattern", "^(P[0-9TWDHMS.]+|([0-9.]+(d|h|m|min|s|ms))+)$"}},
             {{"$ref", "#/$defs/template"}}}}};
      break;
    case KeySpec::Type::kNumberOrWord:
      j = {{"anyOf",
            {Range(s.rule, {{"type", "number"}}),
             {{"enum", Words(s.rule)}},
             {{"$ref", "#/$defs/template"}}}}};
      break;
    case KeySpec::Type::kStringMap:
      j = {{"type", Json::array({"object", "null"})},
           {"additionalProperties", {{"type", Json::array({"string", "number", "boolean"})}}}};
      break;
    case KeySpec::Type::kObject:
      j = ObjectSchema(s);
      break;
    case KeySpec::Type::kOneOf:
      j = OneOfSchema(s);
      break;
    case KeySpec::Type::kList:
      j = {{"type", "array"}, {"items", ToSchema(s.item[0])}};
      if (s.rule.length) j["minItems"] = j["maxItems"] = *s.rule.length;
      if (s.rule.non_empty) j["minItems"] = 1;
      if (s.item[0].type == KeySpec::Type::kString || s.item[0].type == KeySpec::Type::kNumber ||
          s.item[0].type == KeySpec::Type::kInt) {
        j = OrTemplate(j);
      }
      break;
  }
  if (s.optional && s.type != KeySpec::Type::kObject && s.type != KeySpec::Type::kStringMap) {
    j = Json{{"anyOf", {j, {{"type", "null"}}}}};
  }
  if (!s.rule.doc.empty()) j["description"] = s.rule.doc;
  return j;
}

// ---- Markdown ----
std::string TypeText(const KeySpec& s) {
  std::string t;
  switch (s.type) {
    case KeySpec::Type::kBool:
      t = "bool";
      break;
    case KeySpec::Type::kInt:
      t = s.rule.HasRange() ? s.rule.RangeText("integer") : "integer";
      break;
    case KeySpec::Type::kNumber:
      t = s.rule.HasRange() ? s.rule.RangeText("number") : "number";
      break;
    case KeySpec::Type::kString:
      t = s.rule.one_of.empty() ? (s.rule.format.empty() ? "string" : s.rule.format)
                                : "one of " + JoinQuoted(s.rule.one_of);
      break;
    case KeySpec::Type::kDuration:
      t = "duration";
      break;
    case KeySpec::Type::kNumberOrWord:
      t = JoinQuoted(s.rule.one_of) + " or " + s.rule.RangeText("number");
      break;
    case KeySpec::Type::kStringMap:
      t = "map of string";
      break;
    case KeySpec::Type::kObject:
      t = "section";
      break;
    case KeySpec::Type::kOneOf:
      t = "one of its kinds";
      break;
    case KeySpec::Type::kList:
      t = "list of " + (s.item[0].type == KeySpec::Type::kObject  ? std::string("items")
                        : s.item[0].type == KeySpec::Type::kOneOf ? std::string("steps")
                                                                  : TypeText(s.item[0]));
      if (s.rule.length) t += " (" + std::to_string(*s.rule.length) + " items)";
      break;
  }
  if (s.rule.required) t += ", **required**";
  return t;
}

std::string DefaultText(const KeySpec& s) {
  if (s.optional || s.type == KeySpec::Type::kObject || s.type == KeySpec::Type::kOneOf) return "";
  const Node& d = s.default_value;
  if (d.IsScalar()) return d.text.empty() ? "" : "`" + d.text + "`";
  if (d.IsSeq()) {
    if (d.items.empty()) return "`[]`";
    std::vector<std::string> items;
    for (const Node& i : d.items) items.push_back(i.text);
    return "`[" + Join(items, ", ") + "]`";
  }
  return "";
}

void Markdown(const KeySpec& s, const std::string& path, std::string* out) {
  if (s.type == KeySpec::Type::kList) {
    Markdown(s.item[0], path + "[]", out);
    return;
  }
  if (s.type != KeySpec::Type::kObject && s.type != KeySpec::Type::kOneOf) return;
  *out += "\n## `" + (path.empty() ? std::string("(root)") : path) + "`\n\n";
  if (s.type == KeySpec::Type::kOneOf) {
    *out += "Each item is a mapping with exactly one of these keys.\n\n";
  }
  *out += "| key | type | default | description |\n|---|---|---|---|\n";
  for (const KeySpec& c : s.children) {
    const std::string not_built =
        c.rule.not_built.empty() ? "" : " **Not supported yet:** " + c.rule.not_built + ".";
    *out += "| `" + c.name + "` | " + TypeText(c) + " | " + DefaultText(c) + " | " + c.rule.doc +
            not_built + " |\n";
  }
  for (const KeySpec& c : s.children) {
    Markdown(c, path.empty() ? c.name : path + "." + c.name, out);
  }
}

}  // namespace

const KeySpec& ManifestSpec() {
  static const KeySpec* spec = [] {
    auto* s = new KeySpec(DescribeType(Manifest{}, Rule()));
    return s;
  }();
  return *spec;
}

std::vector<std::string> KeyPaths() {
  std::vector<std::string> out;
  CollectPaths(ManifestSpec(), "", &out);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

void CollectNotBuilt(const KeySpec& spec, const std::string& path, std::vector<NotBuiltKey>* out) {
  if (!spec.rule.not_built.empty()) {
    out->push_back(
        {path, spec.rule.not_built, spec.optional ? "" : EmitJson(spec.default_value, -1)});
    return;  // its children go with it
  }
  switch (spec.type) {
    case KeySpec::Type::kObject:
    case KeySpec::Type::kOneOf:
      for (const KeySpec& c : spec.children)
        CollectNotBuilt(c, path.empty() ? c.name : path + "." + c.name, out);
      break;
    case KeySpec::Type::kList:
      CollectNotBuilt(spec.item[0], path + "[]", out);
      break;
    default:
      break;
  }
}

}  // namespace

std::vector<NotBuiltKey> NotBuiltKeys() {
  std::vector<NotBuiltKey> out;
  for (const KeySpec& c : ManifestSpec().children) CollectNotBuilt(c, c.name, &out);
  return out;
}

std::string JsonSchema() {
  Json root = ObjectSchema(ManifestSpec());
  root["type"] = "object";
  Json out = {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
              {"$id", "https://entrenar.dev/schemas/entrenar-1.0.schema.json"},
              {"title", "entrenar 1.0 training manifest"},
              {"description", "Generated by `entrenar schema`; do not edit by hand."}};
  for (auto it = root.begin(); it != root.end(); ++it) out[it.key()] = it.value();
  out["$defs"] = {{"template",
                   {{"type", "string"},
                    {"pattern", "\\{\\{"},
                    {"description", "A `{{ }}` template, resolved before validation."}}}};
  return out.dump(2) + "\n";
}

std::string MarkdownReference() {
  std::string out =
      "# Manifest reference (entrenar 1.0)\n\n"
      "Generated by `entrenar schema --markdown` from the same description the validator uses;\n"
      "`tests/schema` fails when this file is stale. See docs/templates.md for `{{ }}` values\n"
      "and docs/compatibility.md for differences from other implementations.\n\n"
      "Ranges of `lora.*` and `quantize.*` are enforced only while the section is enabled;\n"
      "cross-field rules (mutual exclusivity, dependencies, computed metrics, layer shapes)\n"
      "are listed in docs/validation.md.\n";
  Markdown(ManifestSpec(), "", &out);
  return out;
}

}  // namespace entrenar::manifest

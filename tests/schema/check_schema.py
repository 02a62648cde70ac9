#!/usr/bin/python3
"""The committed JSON Schema agrees with the C++ validator, checked by an independent reader.

Uses Debian's python3-jsonschema (Draft 2020-12) and python3-yaml with YAML 1.2 scalars:
  * the schema's key set (walked here) equals `entrenar schema --format keys`;
  * every manifest the C++ validator accepts (tests/data/manifests/valid, examples/, every
    `entrenar init` template) is valid under the schema;
  * every invalid manifest whose error is structural (unknown key, type, enum, range, required)
    is invalid under the schema too;
  * every key in the YAML blocks of SPEC.md is a key of the schema.
"""
import argparse
import json
import os
import re
import subprocess
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML with YAML 1.2 core scalars: `1e-4` is a float, `yes` is a string."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load_yaml(text):
    return yaml.load(text, Loader=Yaml12Loader)


def schema_keys(node, path, out):
    """Key paths of a schema node, written as the C++ KeyPaths() writes them."""
    for branch in ("anyOf", "oneOf"):
        for sub in node.get(branch, []):
            schema_keys(sub, path, out)
    for name, sub in node.get("properties", {}).items():
        p = f"{path}.{name}" if path else name
        out.add(p)
        schema_keys(sub, p, out)
    if "items" in node:
        schema_keys(node["items"], path + "[]", out)


def free_maps(node, path, out):
    """Paths of mappings with free keys (such as tracking.tags)."""
    for branch in ("anyOf", "oneOf"):
        for sub in node.get(branch, []):
            free_maps(sub, path, out)
    if isinstance(node.get("additionalProperties"), dict):
        out.add(path)
    for name, sub in node.get("properties", {}).items():
        free_maps(sub, f"{path}.{name}" if path else name, out)
    if "items" in node:
        free_maps(node["items"], path + "[]", out)


def spec_keys(spec_path):
    """Key paths of the YAML blocks of SPEC.md that are manifests."""
    text = open(spec_path, encoding="utf-8").read()
    keys = set()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        try:
            doc = load_yaml(block)
        except yaml.YAMLError:
            continue
        if not isinstance(doc, dict) or "quality" in doc:  # §16 shows an output file
            continue

        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "...":
                        continue
                    p = f"{path}.{k}" if path else str(k)
                    keys.add(p)
                    walk(v, p)
            elif isinstance(node, list):
                for item in node:
                    walk(item, path + "[]")
        walk(doc, "")
    return keys


STRUCTURAL = ("unknown key", "expected one of", "expected an integer", "expected a number",
              "missing required key", "must not be empty", "expected a list", "expected true or false",
              "expected a mapping", "an item names exactly one kind", "expected a positive duration")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entrenar", required=True)
    ap.add_argument("--root", required=True)
    args = ap.parse_args()
    root = args.root
    schema = json.load(open(os.path.join(root, "schemas/entrenar-1.0.schema.json")))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    passed, failed = 0, 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    # 1. Key sets.
    mine = set()
    schema_keys(schema, "", mine)
    cxx = set(subprocess.run([args.entrenar, "schema", "--format", "keys"], capture_output=True,
                             text=True, check=True).stdout.split())
    check(mine == cxx, f"schema keys differ from the C++ keys: only in schema {sorted(mine - cxx)[:10]}, "
                       f"only in C++ {sorted(cxx - mine)[:10]}")

    # 2. Valid manifests.
    valid = []
    for d in ("tests/data/manifests/valid", "examples"):
        for f in sorted(os.listdir(os.path.join(root, d))):
            if f.endswith(".yaml"):
                valid.append(os.path.join(root, d, f))
    # (that the C++ validator accepts them is tests/unit/manifest/valid_corpus_test.cc)
    for path in valid:
        errors = list(validator.iter_errors(load_yaml(open(path).read())))
        check(not errors, f"schema rejects {path}: {errors[0].message if errors else ''}")
    for name in ("minimal", "classifier", "regression", "lora", "qlora", "transformer"):
        text = subprocess.run([args.entrenar, "init", "--template", name], capture_output=True,
                              text=True, check=True).stdout
        errors = list(validator.iter_errors(load_yaml(text)))
        check(not errors, f"schema rejects init template {name}: {errors[0].message if errors else ''}")

    # 3. Structurally invalid manifests.
    inv_dir = os.path.join(root, "tests/data/manifests/invalid")
    structural = 0
    for f in sorted(os.listdir(inv_dir)):
        text = open(os.path.join(inv_dir, f)).read()
        expects = re.findall(r"^# expect: (\S*): (.*)$", text, re.M)
        if "# set:" in text or "{{" in text or not expects:
            continue
        path, message = expects[0]
        if path.startswith(("lora.", "quantize.")) or not any(s in message for s in STRUCTURAL):
            continue  # a cross-field or enabled-dependent rule: the C++ validator's alone
        try:
            doc = load_yaml(text)
        except yaml.YAMLError:
            continue
        structural += 1
        check(not validator.is_valid(doc), f"schema accepts the invalid {f} ({path}: {message})")
    check(structural >= 40, f"only {structural} structural invalid cases were checked")

    # 4. Every key the spec shows is a schema key.
    spec = os.path.join(root, "..", "shared", "SPEC.md")
    if os.path.exists(spec):
        maps = set()
        free_maps(schema, "", maps)
        for key in sorted(spec_keys(spec)):
            if any(key.startswith(m + ".") for m in maps):
                continue  # a free key such as a tag name
            check(key in mine, f"SPEC.md key {key} is not in the schema")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

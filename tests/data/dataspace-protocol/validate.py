#!/usr/bin/env python3
"""Validates recorded Dataspace Protocol messages against the specification's
JSON Schemas (draft 2019-09), resolving every `$ref` to the local copies.

Usage: validate.py MESSAGES.jsonl
Each line: {"schema": "negotiation/contract-request-message-schema.json",
            "message": {...}}. Exit status 1 names every message that fails.
"""

import json
import os
import sys

import jsonschema
from referencing import Registry, Resource

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def load(path):
    """A schema, with the specification's one malformed kind of reference
    (`…#definitions/X`, in the transfer schemas at 0b7ac40) read as the
    JSON pointer it means (`…#/definitions/X`)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return json.loads(text.replace('#definitions/', '#/definitions/'))


def registry():
    resources = []
    for folder, _, files in os.walk(HERE):
        for name in files:
            if name.endswith("-schema.json"):
                schema = load(os.path.join(folder, name))
                resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def main(path):
    reg = registry()
    failures = 0
    count = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            schema = load(os.path.join(HERE, record["schema"]))
            validator = jsonschema.Draft201909Validator(schema, registry=reg)
            errors = list(validator.iter_errors(record["message"]))
            count += 1
            if errors:
                failures += 1
                print(f"INVALID against {record['schema']}: {json.dumps(record['message'])}")
                for e in errors:
                    print(f"  - {e.message} at {list(e.absolute_path)}")
    print(f"{count} messages checked, {failures} invalid")
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

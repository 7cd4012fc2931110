"""Checks scenario documents (JSON, converted from TOML by the test) against servesim's JSON Schema
with the reference Python implementation, jsonschema (Draft 2020-12). Prints one line per document:
"ok PATH" or "invalid PATH: the first error". Usage: validate_schema.py SCHEMA DOC..."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        print(f"invalid {path}: {where}: {errors[0].message}")
    else:
        print(f"ok {path}")

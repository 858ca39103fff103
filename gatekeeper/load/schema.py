"""The JSON Schema of the playbook format, for editors and other tools."""

from __future__ import annotations

import json

from gatekeeper.load.model import Playbook

SCHEMA_ID = "https://gatekeeper.dev/schema/playbook.schema.json"


def playbook_schema() -> dict[str, object]:
    schema = Playbook.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "gatekeeper playbook", **schema}


def playbook_schema_text() -> str:
    return json.dumps(playbook_schema(), indent=2, sort_keys=True) + "\n"

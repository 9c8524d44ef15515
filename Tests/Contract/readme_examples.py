"""The README's curl walk-through and the OpenAPI document's examples agree.

Every complete JSON body in README.md's "A purchase, with curl" block — what curl printed and
what it sent with -d '…' — must equal one of the document's examples (`example`, or an
`examples` entry's `value`). Run with any Python that has PyYAML (schemathesis's environment).
"""

import json
import re
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parents[2]
document = yaml.safe_load((root / "Sources/ConcertAPI/openapi.yaml").read_text())
readme = (root / "README.md").read_text()


def examples(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example":
                yield value
            elif key == "examples" and isinstance(value, dict):
                for entry in value.values():
                    if isinstance(entry, dict) and "value" in entry:
                        yield entry["value"]
            else:
                yield from examples(value)
    elif isinstance(node, list):
        for item in node:
            yield from examples(item)


documented = [json.dumps(value, sort_keys=True) for value in examples(document)]
block = readme.split("## A purchase, with curl", 1)[1].split("```", 2)[1]
bodies = []
for line in block.splitlines():
    if line.startswith("{") and "…" not in line:
        bodies.append(line)
    bodies += re.findall(r"-d '(\{.*?\})'", line)

missing = [body for body in bodies if json.dumps(json.loads(body), sort_keys=True) not in documented]
for body in missing:
    print(f"README body not among the document's examples: {body}")
print(f"readme-examples: {len(bodies) - len(missing)} of {len(bodies)} README bodies are examples of the document")
sys.exit(1 if missing or not bodies else 0)

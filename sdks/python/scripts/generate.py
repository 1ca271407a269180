#!/usr/bin/env python3
"""Generate ``src/tether/_protocol.py`` from tether's OpenRPC document.

The document is what ``rpc.discover`` answers; ``tether openrpc`` prints it offline:

    tether openrpc | python3 scripts/generate.py          # rewrite the module
    tether openrpc | python3 scripts/generate.py --check  # exit 1 if it is stale

Every component schema becomes a ``TypedDict`` (objects), a ``Literal`` (string enums)
or a type alias (unions); every method gets a typed ``call`` overload; the server →
client messages (``x-server-messages``) and error codes (``x-error-codes``) become
tables. Only the standard library is used, so CI can run it before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parent.parent / "src" / "tether" / "_protocol.py"
REF = "#/components/schemas/"


class Generator:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.schemas: dict[str, Any] = document["components"]["schemas"]
        self.blocks: list[str] = []  # classes and aliases, in the order written
        self.emitted: set[str] = set()

    # -- types ---------------------------------------------------------------

    def type_of(self, schema: Any, name: str) -> str:
        """The Python type of `schema`; anonymous objects become classes named `name`."""
        if schema is True or schema == {} or not isinstance(schema, dict):
            return "Any"
        if "$ref" in schema:
            return str(schema["$ref"]).removeprefix(REF)
        if "const" in schema:
            return f"Literal[{json.dumps(schema['const'])}]"
        if "enum" in schema:
            return "Literal[" + ", ".join(json.dumps(v) for v in schema["enum"]) + "]"
        for combinator in ("oneOf", "anyOf"):
            if combinator in schema:
                return self.union(
                    [self.type_of(s, self.variant_name(name, s, i)) for i, s in enumerate(schema[combinator])]
                )
        if "allOf" in schema and len(schema["allOf"]) == 1 and "properties" not in schema:
            return self.type_of(schema["allOf"][0], name)
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.union([self.type_of({**schema, "type": k}, name) for k in kind])
        if kind == "string":
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "null":
            return "None"
        if kind == "array":
            return f"list[{self.type_of(schema.get('items', True), name + 'Item')}]"
        if kind == "object" or "properties" in schema or "allOf" in schema:
            if "properties" in schema or "allOf" in schema:
                self.typed_dict(name, schema)
                return name
            extra = schema.get("additionalProperties", True)
            return f"dict[str, {self.type_of(extra, name + 'Value')}]"
        return "Any"

    @staticmethod
    def union(members: list[str]) -> str:
        unique: list[str] = []
        for member in members:
            if member not in unique:
                unique.append(member)
        if "Any" in unique:
            return "Any"
        # Literal["a"] | Literal["b"] reads better as Literal["a", "b"].
        literals = [m[len("Literal[") : -1] for m in unique if m.startswith("Literal[")]
        rest = [m for m in unique if not m.startswith("Literal[")]
        if len(literals) > 1:
            rest.insert(0, "Literal[" + ", ".join(literals) + "]")
        else:
            rest = unique
        return " | ".join(rest)

    @staticmethod
    def variant_name(parent: str, schema: Any, index: int) -> str:
        """`RunRecord` + `{"record": {"const": "turn"}}` → `RunRecordTurn`; a `title` wins."""
        if isinstance(schema, dict):
            if isinstance(schema.get("title"), str) and schema["title"].isidentifier():
                return str(schema["title"])
            for prop in schema.get("properties", {}).values():
                if isinstance(prop, dict) and isinstance(prop.get("const"), str):
                    return parent + "".join(part.title() for part in prop["const"].split("_"))
        return f"{parent}Variant{index}"

    def typed_dict(self, name: str, schema: dict[str, Any]) -> None:
        if name in self.emitted:
            return
        self.emitted.add(name)
        for base in schema.get("allOf", []):  # a base class must be defined before its subclass
            if isinstance(base, dict) and "$ref" in base:
                self.component(str(base["$ref"]).removeprefix(REF))
        bases = [self.type_of(s, name + "Base") for s in schema.get("allOf", [])] or ["TypedDict"]
        required = set(schema.get("required", []))
        fields: list[tuple[str, str, str | None]] = []
        for field, sub in schema.get("properties", {}).items():
            annotation = self.type_of(sub, name + "".join(p.title() for p in field.split("_")))
            if field not in required:
                annotation = f"NotRequired[{annotation}]"
            description = sub.get("description") if isinstance(sub, dict) else None
            fields.append((field, annotation, description))
        lines: list[str] = []
        if all(f.isidentifier() and not keyword.iskeyword(f) for f, _, _ in fields):
            lines.append(f"class {name}({', '.join(bases)}):")
            doc = schema.get("description")
            if doc:
                lines.append(f"    {docstring(doc)}")
            for field, annotation, description in fields:
                if description:
                    for line in description.splitlines():
                        lines.append(f"    #: {line}".rstrip())
                lines.append(f"    {field}: {annotation}")
            if len(lines) == 1:
                lines.append("    pass")
        else:  # a field that is not an identifier: the functional form, whose values are
            # evaluated at import, so each is a string (a forward reference) like the rest
            body = ", ".join(f"{json.dumps(f)}: {json.dumps(a)}" for f, a, _ in fields)
            lines.append(f"{name} = TypedDict({json.dumps(name)}, {{{body}}})")
        self.blocks.append("\n".join(lines))

    def component(self, name: str) -> None:
        if name in self.emitted:
            return
        schema = self.schemas[name]
        if isinstance(schema, dict) and ("properties" in schema or "allOf" in schema) and "oneOf" not in schema:
            self.typed_dict(name, schema)
            return
        alias = self.type_of(schema, name)
        if alias == name:
            return
        doc = schema.get("description") if isinstance(schema, dict) else None
        comment = "".join(f"#: {line}\n" for line in doc.splitlines()) if doc else ""
        self.blocks.append(f"{comment}{name}: TypeAlias = {alias!r}")
        self.emitted.add(name)

    # -- the module ----------------------------------------------------------

    def render(self) -> str:
        for name in sorted(self.schemas):
            self.component(name)
        methods = sorted(self.document["methods"], key=lambda m: m["name"])
        overloads: list[str] = []
        for method in methods:
            stem = "".join(p.title() for p in method["name"].replace(".", "_").split("_"))
            params_schema = method["params"][0]["schema"]
            params = self.type_of(params_schema, stem + "Params")
            result = self.type_of(method["result"]["schema"], stem + "Result")
            optional = not self.requires_something(params_schema)
            params_decl = f"params: {params} | None = None" if optional else f"params: {params}"
            overloads.append(
                "    @overload\n"
                f"    async def call(\n        self, method: Literal[{json.dumps(method['name'])}], "
                f"{params_decl}, *, timeout: float | None = None\n    ) -> {result}: ..."
            )
        access = {m["name"]: m.get("x-access", "authenticated") for m in methods}
        messages = {m["name"]: m.get("x-kind", "notification") for m in self.document.get("x-server-messages", [])}
        codes = self.document.get("x-error-codes", [])
        out = [HEADER.format(version=self.document["info"]["version"])]
        out.extend(block + "\n\n" for block in self.blocks)
        out.append("#: Who may call each method: `operator` or any `authenticated` principal.")
        out.append("METHOD_ACCESS: dict[str, str] = " + pretty(access) + "\n")
        out.append("#: What the server sends the client: `request` (answer it) or `notification`.")
        out.append("SERVER_MESSAGES: dict[str, str] = " + pretty(messages) + "\n")
        out.append("")
        out.append("class ErrorCode(IntEnum):")
        out.append('    """The JSON-RPC error codes tether answers with."""\n')
        for code in codes:
            out.append(f"    #: {code['message']}")
            out.append(f"    {code['name'].upper()} = {code['code']}")
        out.append("\n")
        out.append("class Calls:")
        out.append('    """`call(method, params)`, typed for every method of the protocol."""\n')
        out.append("    async def _request(self, method: str, params: Any, timeout: float | None) -> Any:")
        out.append("        raise NotImplementedError\n")
        out.extend(o + "\n" for o in overloads)
        out.append("    @overload")
        out.append(
            "    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...\n"
        )
        out.append("    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:")
        out.append('        """Call any method; `timeout` (seconds) bounds the wait for its reply."""')
        out.append("        return await self._request(method, params, timeout)")
        return "\n".join(out) + "\n"

    def requires_something(self, schema: Any) -> bool:
        if isinstance(schema, dict) and "$ref" in schema:
            schema = self.schemas[schema["$ref"].removeprefix(REF)]
        if not isinstance(schema, dict):
            return False
        if schema.get("type") == "array":
            return True
        return bool(schema.get("required"))


def docstring(text: str) -> str:
    text = text.replace('"""', "'''").replace("\\", "\\\\")
    return '"""' + text.replace("\n", "\n    ") + '"""'


def pretty(mapping: dict[str, str]) -> str:
    return "{\n" + "".join(f"    {json.dumps(k)}: {json.dumps(v)},\n" for k, v in mapping.items()) + "}"


HEADER = '''"""tether's wire types, generated from its OpenRPC document (server {version}).

Do not edit: run `tether openrpc | python3 sdks/python/scripts/generate.py`.
CI fails when this file differs from what the generator writes.
"""

# ruff: noqa: E501
from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal, NotRequired, TypeAlias, TypedDict, overload

'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("document", nargs="?", help="the OpenRPC JSON (default: stdin)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is stale, writing nothing")
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args()
    text = Path(args.document).read_text() if args.document else sys.stdin.read()
    rendered = Generator(json.loads(text)).render()
    current = args.output.read_text() if args.output.exists() else ""
    if args.check:
        if current != rendered:
            print(
                f"{args.output} is stale: run `tether openrpc | python3 sdks/python/scripts/generate.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != rendered:
        args.output.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The SDK's wire types cannot drift from the daemon's contract, and signatures map to schemas."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from typing import Annotated, Any, Literal

import pytest

from conftest import REPO, binary
from tether.tools import SchemaError, ToolCall, schema_for, signature_schema

GENERATOR = REPO / "sdks" / "python" / "scripts" / "generate.py"


def test_the_generated_types_match_the_daemons_openrpc_document() -> None:
    document = subprocess.run([str(binary()), "openrpc"], capture_output=True, check=True).stdout
    check = subprocess.run([sys.executable, str(GENERATOR), "--check"], input=document, capture_output=True)
    assert check.returncode == 0, check.stderr.decode()


def test_a_stale_module_is_reported(tmp_path: Any) -> None:
    document = subprocess.run([str(binary()), "openrpc"], capture_output=True, check=True).stdout
    stale = tmp_path / "_protocol.py"
    stale.write_text("# an older contract\n")
    args = [sys.executable, str(GENERATOR), "--check", "--output", str(stale)]
    check = subprocess.run(args, input=document, capture_output=True)
    assert check.returncode == 1 and b"stale" in check.stderr


class Color(Enum):
    RED = "red"
    BLUE = "blue"


def test_signatures_become_json_schemas() -> None:
    def tool(
        text: str,
        count: int,
        ratio: float = 0.5,
        flag: bool = False,
        tags: list[str] | None = None,
        mode: Literal["a", "b"] = "a",
        color: Color = Color.RED,
        extra: dict[str, int] | None = None,
        note: Annotated[str, "what to say"] = "",
        call: ToolCall | None = None,
    ) -> None: ...

    schema, call_param = signature_schema(tool)
    assert call_param == "call" and "call" not in schema["properties"]
    assert schema["required"] == ["text", "count"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["text"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number", "default": 0.5}
    assert props["tags"]["anyOf"] == [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    assert props["mode"] == {"enum": ["a", "b"], "default": "a"}
    assert props["color"] == {"enum": ["red", "blue"]}
    assert props["extra"]["anyOf"][0] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["note"] == {"type": "string", "description": "what to say", "default": ""}


def test_a_call_context_parameter_and_kwargs_are_not_part_of_the_schema() -> None:
    def tool(path: str, call: ToolCall, **more: Any) -> None: ...

    schema, call_param = signature_schema(tool)
    assert call_param == "call"
    assert list(schema["properties"]) == ["path"]
    assert schema["additionalProperties"] is True


def test_a_type_without_a_schema_is_refused_at_registration() -> None:
    with pytest.raises(SchemaError, match="schema="):
        schema_for(complex)

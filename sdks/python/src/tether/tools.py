"""Tools: Python functions the daemon calls back with ``tools.execute``.

A tool's JSON Schema is derived from its signature (or given explicitly); the daemon
checks every action's parameters against it before calling, so a tool only ever sees
parameters that fit. A parameter annotated :class:`ToolCall` receives the call's
details (action id, attempt, deadline) instead of a value from the proposal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Union

from ._protocol import ExecuteParams, ToolDefinition

ToolFunction = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """What the daemon said about one call of a tool (``tools.execute``'s params)."""

    tool: str
    action_id: str
    request_id: str
    attempt: int
    timeout_ms: int
    session_id: str | None = None

    @classmethod
    def of(cls, params: ExecuteParams) -> ToolCall:
        return cls(
            tool=params["tool"],
            action_id=params["action_id"],
            request_id=params["request_id"],
            attempt=params["attempt"],
            timeout_ms=params["timeout_ms"],
            session_id=params.get("session_id"),
        )


class SchemaError(TypeError):
    """A tool's signature has a parameter whose type has no JSON Schema."""


def schema_for(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of a Python type annotation."""
    if annotation is inspect.Parameter.empty or annotation is Any or annotation is object:
        return {}
    if annotation is type(None) or annotation is None:
        return {"type": "null"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is str:
        return {"type": "string"}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [member.value for member in annotation]}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        members = [schema_for(a) for a in args]
        return {} if {} in members else {"anyOf": members}
    if origin is typing.Annotated:
        schema = schema_for(args[0])
        for extra in args[1:]:
            if isinstance(extra, str):
                schema["description"] = extra
        return schema
    if annotation in (list, tuple, set, frozenset) or origin in (list, set, frozenset, Sequence):
        return {"type": "array", "items": schema_for(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for(args[0])}
        return {"type": "array", "prefixItems": [schema_for(a) for a in args], "minItems": len(args)}
    if annotation is dict or origin in (dict, Mapping):
        if len(args) == 2:
            return {"type": "object", "additionalProperties": schema_for(args[1])}
        return {"type": "object"}
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation, include_extras=True)
        required = sorted(getattr(annotation, "__required_keys__", hints.keys()))
        properties = {name: schema_for(hint) for name, hint in hints.items()}
        return {"type": "object", "properties": properties, "required": required}
    raise SchemaError(f"no JSON Schema for {annotation!r}; pass schema= to @client.tool")


def _strip_not_required(annotation: Any) -> Any:
    while typing.get_origin(annotation) in (typing.NotRequired, typing.Required):
        annotation = typing.get_args(annotation)[0]
    return annotation


def signature_schema(function: ToolFunction) -> tuple[dict[str, Any], str | None]:
    """The parameters schema of `function`, and the name of its :class:`ToolCall` parameter."""
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    call_param: str | None = None
    open_ended = False
    for name, parameter in signature.parameters.items():
        annotation = _strip_not_required(hints.get(name, parameter.annotation))
        if annotation is ToolCall or annotation == ToolCall | None:
            call_param = name
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_ended = True
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise SchemaError(f"tool {function.__name__}: parameter {name} must be passable by keyword")
        prop = schema_for(annotation)
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
        else:
            try:
                json.dumps(parameter.default)
                prop["default"] = parameter.default
            except (TypeError, ValueError):
                pass
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": open_ended}
    if required:
        schema["required"] = required
    return schema, call_param


@dataclasses.dataclass
class Tool:
    """A registered tool: its definition on the wire and the function that runs it."""

    name: str
    function: ToolFunction
    description: str | None
    parameters: dict[str, Any] | None
    call_param: str | None

    @property
    def definition(self) -> ToolDefinition:
        definition: ToolDefinition = {"name": self.name}
        if self.description:
            definition["description"] = self.description
        if self.parameters is not None:
            definition["parameters"] = self.parameters
        return definition

    async def invoke(self, params: ExecuteParams) -> Any:
        """Runs the function: a coroutine function on the loop, anything else in a thread."""
        arguments = params.get("parameters")
        kwargs: dict[str, Any] = dict(arguments) if isinstance(arguments, dict) else {}
        if self.call_param:
            kwargs[self.call_param] = ToolCall.of(params)
        if inspect.iscoroutinefunction(self.function):
            return await self.function(**kwargs)
        result = await asyncio.to_thread(self.function, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def make_tool(
    function: ToolFunction,
    *,
    name: str | None = None,
    description: str | None = None,
    schema: dict[str, Any] | None = None,
) -> Tool:
    derived, call_param = signature_schema(function)
    if description is None and function.__doc__:
        description = inspect.cleandoc(function.__doc__)
    return Tool(
        name=name or function.__name__,
        function=function,
        description=description,
        parameters=schema if schema is not None else derived,
        call_param=call_param,
    )

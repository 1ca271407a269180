"""Errors: one exception class per protocol code, carrying the code, message and data."""

from __future__ import annotations

import uuid

import pytest

import tether
from conftest import Daemon
from tether import errors


def test_every_error_code_of_the_protocol_has_its_own_exception_class() -> None:
    for code in tether.ErrorCode:
        cls = errors.BY_CODE[code]
        assert cls.code == code and cls is not tether.RpcError, code
        assert cls.__name__ in tether.__all__, f"{cls.__name__} is exported"


async def test_invalid_params_name_the_field(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token) as client:
        with pytest.raises(tether.InvalidParams) as caught:
            await client.call("runs.start", {"intent": 7})
        assert caught.value.code == -32602
        assert "params.intent" in caught.value.message
        assert caught.value.method == "runs.start"


async def test_a_cap_names_itself_in_data(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=f"py-{uuid.uuid4().hex[:8]}") as client:
        for _ in range(64):  # events.max_subscriptions, by default
            await client.call("events.subscribe", {})
        with pytest.raises(tether.LimitExceeded) as caught:
            await client.call("events.subscribe", {})
        assert caught.value.limit == "events.max_subscriptions"
        assert caught.value.data["value"] == 64


async def test_an_oversized_field_is_invalid_params_naming_the_limit(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id=f"py-{uuid.uuid4().hex[:8]}") as client:
        with pytest.raises(tether.InvalidParams, match=r"runs\.max_intent_bytes"):
            await client.start_run("x" * 100_000)


async def test_an_operator_method_from_an_agent_is_denied(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token, agent_id="py-agent") as client:
        with pytest.raises(tether.Denied, match="operator"):
            await client.approvals.list()


async def test_an_unknown_method_is_method_not_found(daemon: Daemon) -> None:
    async with tether.connect(daemon.url, token=daemon.token) as client:
        with pytest.raises(tether.MethodNotFound):
            await client.call("no.such.method")


async def test_a_wrong_token_fails_to_connect_with_either_kind_of_auth(daemon: Daemon) -> None:
    with pytest.raises(tether.ConnectFailed, match="401"):
        await tether.connect(daemon.url, token="wrong", reconnect=False)
    with pytest.raises(tether.ConnectFailed, match="401"):
        await tether.connect(daemon.url, token="wrong", agent_id="py-agent", reconnect=False)
    with pytest.raises(tether.AuthenticationError):
        await tether.connect(daemon.url, token="wrong", agent_id="py-agent", auth="frame", reconnect=False)


async def test_a_missing_required_capability_is_refused(daemon: Daemon) -> None:
    with pytest.raises(tether.CapabilityUnsupported) as caught:
        await tether.connect(daemon.url, token=daemon.token, require=["time.travel.v1"])
    assert caught.value.data["missing"] == ["time.travel.v1"]


async def test_no_daemon_is_a_connect_failure() -> None:
    with pytest.raises(tether.ConnectFailed, match="cannot connect"):
        await tether.connect("ws://127.0.0.1:9", token="x")

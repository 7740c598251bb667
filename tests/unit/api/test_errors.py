"""The one place failures become HTTP (services/api/errors.py): gateway errors keep their status, body
and headers; validation errors name the parameter as OpenAI does; unknown routes and methods answer in
OpenAI's shape; an unexpected failure is a 500 that says nothing of what failed."""

from typing import Literal

import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.api import errors
from shared.config import GatewayConfig
from shared.errors import NotFound, RateLimited

from . import gateways

router = APIRouter()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    count: int = Field(ge=1)


@router.post("/echo")
async def echo(body: Body) -> dict:
    return body.model_dump()


@router.get("/limited")
async def limited() -> dict:
    raise RateLimited("Too many.", retry_after_s=9)


@router.get("/missing")
async def missing() -> dict:
    raise NotFound("No response with id 'resp_x'.", param="response_id")


@router.get("/broken")
async def broken() -> dict:
    raise RuntimeError("backend key sk-live-123 rejected by 10.0.0.7")


CONFIG = GatewayConfig.model_validate({"models": [{"name": "m", "api_base": "http://b/v1", "model": "up"}]})
APP = gateways.app(gateways.gateway(CONFIG, {}), router)


async def test_a_gateway_error_keeps_its_status_body_and_headers():
    async with gateways.client(APP) as client:
        reply = await client.get("/limited")
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "9"
    assert reply.json() == RateLimited("Too many.", retry_after_s=9).body()


async def test_not_found_names_its_parameter():
    async with gateways.client(APP) as client:
        reply = await client.get("/missing")
    assert reply.status_code == 404
    assert reply.json()["error"]["param"] == "response_id"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"count": 1}, "name", "missing_required_parameter"),
        ({"name": "x", "count": 0}, "count", "invalid_value"),
        ({"name": "x", "count": 1, "colour": "red"}, "colour", "invalid_value"),
    ],
)
async def test_a_body_the_route_refuses_is_a_400_naming_the_parameter(body, param, code):
    async with gateways.client(APP) as client:
        reply = await client.post("/echo", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_a_body_that_is_not_json_is_invalid_json():
    async with gateways.client(APP) as client:
        reply = await client.post("/echo", content=b"{nope", headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [("GET", "/nowhere", 404, "not_found"), ("PUT", "/echo", 405, "method_not_allowed")],
)
async def test_unknown_routes_and_methods_answer_in_openais_shape(method, path, status, code):
    async with gateways.client(APP) as client:
        reply = await client.request(method, path)
    assert reply.status_code == status
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("invalid_request_error", code)


async def test_an_unexpected_failure_is_a_500_that_reveals_nothing_of_it():
    async with gateways.client(APP) as client:
        reply = await client.get("/broken")
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "server_error"
    assert "sk-live-123" not in reply.text
    assert "10.0.0.7" not in reply.text


class Nested(BaseModel):
    tools: list[Body]


def _refusal(data: object) -> ValidationError:
    try:
        Nested.model_validate(data)
    except ValidationError as error:
        return error
    raise AssertionError("accepted")


@pytest.mark.parametrize(
    ("data", "param", "code"),
    [
        ({"tools": [{"name": "a", "count": 1}, {"count": 1}]}, "tools[1].name", "missing_required_parameter"),
        ({"tools": [{"name": "a", "count": -3}]}, "tools[0].count", "invalid_value"),
        ({}, "tools", "missing_required_parameter"),
    ],
)
def test_the_parameter_path_walks_the_body(data, param, code):
    invalid = errors.invalid_request_from(_refusal(data), body=data)
    assert (invalid.param, invalid.code) == (param, code)


def test_a_huge_value_is_not_echoed_whole():
    class Choice(BaseModel):
        mode: Literal["fast", "slow"]

    huge = "x" * 10_000
    try:
        Choice.model_validate({"mode": huge})
    except ValidationError as error:
        invalid = errors.invalid_request_from(error, body={"mode": huge})
    assert invalid.param == "mode"
    assert invalid.message.startswith("Invalid value: 'xxx")
    assert len(invalid.message) < 1_000

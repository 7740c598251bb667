"""A request body read with a bound: under it, the body; over it, ``request_too_large``, but only
once the client has sent all of it (an answer before that would reach it as a reset connection)."""

import pytest
from starlette.requests import Request

from services.api import bodies
from shared.errors import InvalidRequest
from shared.request_model import ResponseCreateRequest


def request_of(*pieces: bytes) -> tuple[Request, list[bytes]]:
    """A request whose body arrives in ``pieces``, and the list of those the server has received."""
    received: list[bytes] = []

    async def receive() -> dict:
        piece = pieces[len(received)]
        received.append(piece)
        return {"type": "http.request", "body": piece, "more_body": len(received) < len(pieces)}

    return Request({"type": "http", "method": "POST", "headers": []}, receive), received


async def test_a_body_within_the_limit_is_read_whole():
    request, _ = request_of(b'{"model": "m1", ', b'"input": "hi"}')
    assert await bodies.read(request, max_bytes=100) == b'{"model": "m1", "input": "hi"}'


async def test_a_body_over_the_limit_is_refused_once_all_of_it_arrived():
    request, received = request_of(b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60)
    with pytest.raises(InvalidRequest) as refused:
        await bodies.read(request, max_bytes=100)
    assert refused.value.code == "request_too_large"
    assert len(received) == 4


async def test_a_body_exactly_at_the_limit_is_taken():
    request, _ = request_of(b"x" * 50, b"x" * 50)
    assert len(await bodies.read(request, max_bytes=100)) == 100


async def test_an_empty_body_stands_for_the_default_where_one_is_given():
    request, _ = request_of(b"  ")
    parsed = await bodies.parsed(
        request, max_bytes=100, model=ResponseCreateRequest, if_empty=b'{"model": "m"}'
    )
    assert parsed.model == "m"
    with pytest.raises(InvalidRequest) as refused:
        await bodies.parsed(request_of(b"")[0], max_bytes=100)
    assert refused.value.code == "invalid_json"

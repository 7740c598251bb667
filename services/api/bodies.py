"""Reading a request's body with a bound on the memory it takes.

Starlette's ``Request.body()`` takes a body of any size into memory, twice over while it joins the
pieces, before anything can check its size: a 200 MB POST took the api 390 MB before its 400. And it
keeps the body on the request, which lives as long as the response does: the whole of a stream. Here
what passes ``max_bytes`` is read and dropped, never kept, and the 400 comes after the end of the
body: a server that answers and closes while the client still sends makes the client's kernel reset
the connection, and the client would see a broken connection instead of the error."""

from starlette.requests import Request

from services.api import validation
from services.api.validation import Request as Body
from shared.request_model import ResponseCreateRequest


async def parsed(
    request: Request,
    *,
    max_bytes: int,
    model: type[Body] = ResponseCreateRequest,
    if_empty: bytes = b"",
) -> Body:
    """The body as ``model`` (``validation.parse_request``); ``if_empty`` stands in for a body with
    nothing in it."""
    raw = await read(request, max_bytes=max_bytes)
    if if_empty and validation.is_blank(raw):
        raw = if_empty
    return validation.parse_request(raw, max_bytes=max_bytes, model=model)


async def read(request: Request, *, max_bytes: int) -> bytes:
    """The body, or ``request_too_large`` once it has all arrived, if it was over ``max_bytes``."""
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size <= max_bytes:
            pieces.append(piece)
        elif pieces:
            pieces.clear()  # it will be refused: what it holds is of no use
    if size > max_bytes:
        raise validation.request_too_large(max_bytes)
    return b"".join(pieces)

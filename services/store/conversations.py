"""The store's part in conversations: conversation events and the halves of response turns folded by
``shared.readmodel.conversations.fold``, and the turn of a response that is not stored itself
(``store: false``) completed from the log before its end destroys its data key."""

import asyncio

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pymongo.asynchronous.collection import AsyncCollection

from shared import eventlog, subjects
from shared.domain import projection
from shared.events import Event, ResponseRequested, ResponseStreamed
from shared.readmodel import conversations

# One lookup of the log; a timeout is transient, so the end is redelivered and looks again.
_LOOKUP_TIMEOUT_S = 5.0


async def project(event: Event, *, js: JetStreamContext, collection: AsyncCollection) -> None:
    """Fold ``event`` into its conversation. Run before the event's data key is destroyed: the end of
    an unstored response whose request has not been folded yet (the store folds them concurrently)
    reads that request from the log now, since once the key is gone it no longer opens."""
    waiting = await conversations.fold(event, collection)
    if not (waiting and isinstance(event, ResponseStreamed) and projection.erases(event)):
        return
    if (request := await _logged_request(js, event.response_id)) is not None:
        await conversations.fold(request, collection)


async def _logged_request(js: JetStreamContext, response_id: str) -> ResponseRequested | None:
    try:
        raw = await asyncio.wait_for(
            js.get_last_msg(subjects.STREAM, subjects.requested(response_id)), timeout=_LOOKUP_TIMEOUT_S
        )
    except NotFoundError:
        return None
    event = await eventlog.decode(js, raw)
    return event if isinstance(event, ResponseRequested) else None

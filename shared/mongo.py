"""The MongoDB client, with every call bounded in time.

``timeoutMS`` (pymongo's client-side operation timeout) bounds each operation whole: finding the
server, checking out or opening a connection, the round trip and any retry; with it set, pymongo
ignores ``serverSelectionTimeoutMS`` and ``socketTimeoutMS``. 5 s is hundreds of times what a write
takes on the stand-in (1-15 ms) and far under the store consumer's 30 s ack wait, so a write that
hangs is settled (redelivered later) by its own handler, never by JetStream's timeout; and a MongoDB
that is down is known within 5 s instead of pymongo's default 30 s of server selection. Tools that
scan whole collections (a rebuild) ask for more.

The store also turns retryable writes off. Each of its writes is a guarded upsert that may be applied
any number of times, and a failed one is redelivered by JetStream (``services.store.handlers``), so
the driver's single retry adds nothing; yet every retryable write costs the server a record of its
reply. The embedded stand-in (``secantusd-py``), when it advertises a replica set, keeps up to 10,000
such records and walks them all on every retryable write, then sorts them on every write past the
cap: past 10,000 writes each one cost about four times as much (the soak's decay, see
bench/README.md). ``./dev up`` now runs it standalone, where the driver retries no write.
"""

from pymongo import AsyncMongoClient

TIMEOUT_MS = 5_000


def client(uri: str, *, retry_writes: bool = True, timeout_ms: int = TIMEOUT_MS) -> AsyncMongoClient:
    """A client whose every operation is bounded; ``retry_writes=False`` for idempotent writers."""
    return AsyncMongoClient(uri, timeoutMS=timeout_ms, retryWrites=retry_writes)

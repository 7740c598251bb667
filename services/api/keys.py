"""Managed client keys: stored in MongoDB (collection ``api_keys``) as their sha256 only, created,
listed and revoked at run time, beside the static keys of the config. Also the operator's CLI::

    python -m services.api.keys create --name ci --project team-a [--admin] [--rpm N] [--tpm N]
    python -m services.api.keys list [--project team-a]
    python -m services.api.keys revoke KEY_ID
    python -m services.api.keys usage --group-by key|model|deployment|project [--since 2026-01-01]

``create`` prints the key once; nothing can show it again. The api resolves a managed key through an
in-process cache of ``KEY_CACHE_S`` seconds (default 2), so a revocation holds on every replica
within that time, with no restart, and a cached key costs no MongoDB query.
"""

import argparse
import asyncio
import json
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from services.api.auth import ANONYMOUS, Caller, KeyTable, incorrect_key, key_hash, missing_key, presented_key
from shared import mongo as mongo_client
from shared.config import Settings
from shared.ids import new_id
from shared.readmodel import usage

COLLECTION = "api_keys"
KEY_PREFIX = "sk-gw-"
DEFAULT_CACHE_S = 2.0
# A flood of distinct unknown keys must not grow the cache without bound.
_MAX_CACHED = 10_000

Doc = dict[str, Any]


class KeyRing:
    """Resolves the ``Authorization`` header to a ``Caller``: static keys first, then managed ones.

    Any other request is refused, however few keys exist (none, or every managed key revoked), unless
    the ring was made ``open`` (the config's ``auth: open``): then it is served as ``ANONYMOUS``."""

    def __init__(
        self,
        static: KeyTable,
        collection: AsyncCollection,
        *,
        open: bool = False,
        cache_s: float = DEFAULT_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._static = static
        self._collection = collection
        self._open = open
        self._cache_s = cache_s
        self._clock = clock
        self._cached: dict[str, tuple[float, Caller | None]] = {}

    async def caller(self, authorization: str | None) -> Caller:
        key = presented_key(authorization)
        if key is not None:
            hashed = key_hash(key)
            if (static := self._static.get(hashed)) is not None:
                return static
            if (managed := await self._managed(hashed)) is not None:
                return managed
        if self._open:
            return ANONYMOUS
        raise missing_key() if key is None else incorrect_key()

    async def _managed(self, hashed: str) -> Caller | None:
        now = self._clock()
        cached = self._cached.get(hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        doc = await self._collection.find_one({"hash": hashed, "revoked_at": None})
        if len(self._cached) >= _MAX_CACHED:
            self._cached.clear()
        caller = _caller(doc) if doc else None
        self._cached[hashed] = (now + self._cache_s, caller)
        return caller


def _caller(doc: Doc) -> Caller:
    return Caller(
        tenant=doc["project"], key_id=doc["_id"], admin=doc["admin"], rpm=doc.get("rpm"), tpm=doc.get("tpm")
    )


def public(doc: Doc) -> Doc:
    """What may be shown of a stored key: everything but its hash."""
    return {
        "id": doc["_id"],
        "object": "api_key",
        "name": doc["name"],
        "project": doc["project"],
        "admin": doc["admin"],
        "rpm": doc.get("rpm"),
        "tpm": doc.get("tpm"),
        "created_at": doc["created_at"],
        "revoked_at": doc.get("revoked_at"),
    }


async def create_key(
    collection: AsyncCollection,
    *,
    name: str,
    project: str,
    admin: bool = False,
    rpm: int | None = None,
    tpm: int | None = None,
) -> tuple[str, Doc]:
    """A new key and its public record; the key itself is returned here once and stored nowhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    doc = {
        "_id": new_id("key"),
        "hash": key_hash(key),
        "name": name,
        "project": project,
        "admin": admin,
        "rpm": rpm,
        "tpm": tpm,
        "created_at": int(time.time()),
        "revoked_at": None,
    }
    await collection.insert_one(doc)
    return key, public(doc)


async def list_keys(collection: AsyncCollection, *, project: str | None = None) -> list[Doc]:
    query = {} if project is None else {"project": project}
    return [public(doc) async for doc in collection.find(query).sort("created_at", ASCENDING)]


async def revoke_key(collection: AsyncCollection, key_id: str) -> Doc | None:
    """Revoke ``key_id`` (again is a no-op); None if there is no such key."""
    await collection.update_one(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": int(time.time())}}
    )
    doc = await collection.find_one({"_id": key_id})
    return public(doc) if doc else None


async def ensure_indexes(collection: AsyncCollection) -> None:
    await collection.create_index([("hash", ASCENDING)], unique=True)


def parse_since(value: str | None, *, now: float) -> float:
    """``since`` as epoch seconds: a number, an ISO 8601 date or time (UTC unless it says), or None
    for the last 24 hours."""
    if value is None:
        return now - 24 * 3600
    try:
        return float(value)
    except ValueError:
        parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.api.keys", description="Manage client keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--project", required=True, help="the tenant whose responses the key sees")
    create.add_argument("--admin", action="store_true", help="may manage keys and read usage")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    listing = commands.add_parser("list", help="list keys (never their values)")
    listing.add_argument("--project")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    report = commands.add_parser("usage", help="usage and cost")
    report.add_argument("--group-by", choices=["key", "model", "deployment", "project"], default="key")
    report.add_argument("--since", help="epoch seconds or ISO 8601; default: the last 24 hours")
    report.add_argument("--project")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    mongo = mongo_client.client(settings.mongo_uri)
    try:
        db = mongo[settings.mongo_db]
        collection = db[COLLECTION]
        await ensure_indexes(collection)
        match args.command:
            case "create":
                key, record = await create_key(
                    collection,
                    name=args.name,
                    project=args.project,
                    admin=args.admin,
                    rpm=args.rpm,
                    tpm=args.tpm,
                )
                print(json.dumps({**record, "key": key}, indent=2))
                print("Store the key now: it cannot be shown again.", file=sys.stderr)
            case "list":
                for record in await list_keys(collection, project=args.project):
                    print(json.dumps(record))
            case "revoke":
                if (record := await revoke_key(collection, args.key_id)) is None:
                    print(f"no key {args.key_id}", file=sys.stderr)
                    return 1
                print(json.dumps(record))
            case "usage":
                since = parse_since(args.since, now=time.time())
                rows = await usage.summarize(
                    db[usage.COLLECTION], args.group_by, since=since, project=args.project
                )
                for row in rows:
                    print(json.dumps(row))
    finally:
        await mongo.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_run(_arguments(sys.argv[1:] if argv is None else argv), Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main())

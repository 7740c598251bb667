"""``/v1/admin``: client keys and usage, for admin keys only (a static key with ``admin: true`` in the
config, or a managed key created with ``--admin``)."""

import logging
import math
import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection

from services.api import keys
from services.api.deps import AdminDep, Gateway, GatewayDep
from shared import erasure, eventlog
from shared.errors import GatewayError, InvalidRequest, NotFound
from shared.readmodel import usage
from shared.storable import MAX_COUNT

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/admin")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    project: str = Field(min_length=1)
    admin: bool = False
    rpm: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    tpm: int | None = Field(default=None, ge=1, le=MAX_COUNT)


@router.post("/keys")
async def create_key(body: KeyCreate, gateway: GatewayDep, _: AdminDep) -> dict:
    """The new key's record with the key itself, shown this once."""
    key, record = await keys.create_key(_keys(gateway), **body.model_dump())
    return {**record, "key": key}


@router.get("/keys")
async def list_keys(gateway: GatewayDep, _: AdminDep, project: str | None = None) -> dict:
    return {"object": "list", "data": await keys.list_keys(_keys(gateway), project=project)}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, gateway: GatewayDep, _: AdminDep) -> dict:
    """Revoke a managed key; every api replica refuses it within ``KEY_CACHE_S`` seconds."""
    if (record := await keys.revoke_key(_keys(gateway), key_id)) is None:
        raise NotFound(f"No API key with id '{key_id}'.", param="key_id")
    return record


@router.post("/projects/{project}/erase")
async def erase_project(project: str, gateway: GatewayDep, caller: AdminDep) -> dict:
    """Destroy every data key of a project and remove its responses and conversations from the
    projection: its content is then unreadable in the log, its backups and any rebuild (README,
    Operations: Deletion)."""
    data_keys = eventlog.data_keys(gateway.js)
    if data_keys is None:
        raise GatewayError("This gateway does not seal its log; nothing can be erased.")
    erased = await erasure.erase_tenant(data_keys, gateway.db, gateway.js, project)
    log.warning(
        "project %r erased by %s: %d keys, %d responses, %d conversations",
        project,
        caller.key_id,
        erased.keys,
        erased.responses,
        erased.conversations,
    )
    return erased.report()


@router.get("/usage")
async def get_usage(
    gateway: GatewayDep,
    _: AdminDep,
    group_by: Literal["key", "model", "deployment", "project"] = "key",
    since: str | None = None,
    project: str | None = None,
) -> dict:
    """Requests, errors, tokens and cost of the responses finished since ``since`` (epoch seconds or
    ISO 8601; default the last 24 hours), one row per ``group_by`` value."""
    try:
        start = keys.parse_since(since, now=time.time())
    except ValueError:
        start = math.nan
    if not math.isfinite(start):  # "nan", "inf", "1e400": no instant, and MongoDB would match nothing
        raise InvalidRequest(f"Invalid 'since': {since!r}.", param="since", code="invalid_value")
    rows = await usage.summarize(gateway.db[usage.COLLECTION], group_by, since=start, project=project)
    return {"object": "list", "group_by": group_by, "since": start, "data": rows}


def _keys(gateway: Gateway) -> AsyncCollection:
    return gateway.db[keys.COLLECTION]

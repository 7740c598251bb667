"""``/v1/admin``: client keys and usage, for admin keys only (a static key with ``admin: true`` in the
config, or a managed key created with ``--admin``)."""

import time
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection

from services.api import keys
from services.api.deps import AdminDep, Gateway, GatewayDep
from services.store import usage
from shared.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/v1/admin")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    project: str = Field(min_length=1)
    admin: bool = False
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


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
        raise InvalidRequest(f"Invalid 'since': {since!r}.", param="since") from None
    rows = await usage.summarize(gateway.db[usage.COLLECTION], group_by, since=start, project=project)
    return {"object": "list", "group_by": group_by, "since": start, "data": rows}


def _keys(gateway: Gateway) -> AsyncCollection:
    return gateway.db[keys.COLLECTION]

"""Managed keys (services/api/keys.py) without a server: what of a stored key may be shown, and how the
CLI and ``/v1/admin/usage`` read ``since``. Resolving keys is in test_auth.py; creating, listing and
revoking them in MongoDB is in tests/contract/api/test_keys.py."""

from datetime import UTC, datetime

import pytest

from services.api import keys

NOW = 1_800_000_000.0


STORED = {
    "_id": "key_1",
    "hash": "ab" * 32,
    "name": "ci",
    "project": "team-a",
    "admin": False,
    "rpm": 10,
    "tpm": None,
    "created_at": 1,
    "revoked_at": None,
}


def test_public_shows_everything_but_the_hash():
    shown = keys.public(STORED)
    assert shown.pop("id") == STORED["_id"]
    assert shown.pop("object") == "api_key"
    assert shown == {k: v for k, v in STORED.items() if k not in ("_id", "hash")}


def test_public_takes_a_document_without_limits():
    older = {k: v for k, v in STORED.items() if k not in ("rpm", "tpm", "revoked_at")}
    shown = keys.public(older)
    assert (shown["rpm"], shown["tpm"], shown["revoked_at"]) == (None, None, None)


def test_since_defaults_to_the_last_day():
    assert keys.parse_since(None, now=NOW) == NOW - 24 * 3600


def test_since_as_epoch_seconds():
    assert keys.parse_since("1700000000.5", now=NOW) == 1_700_000_000.5


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-02", datetime(2026, 1, 2, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05+02:00", datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_since_as_iso_8601_is_utc_unless_it_says_otherwise(text, moment):
    assert keys.parse_since(text, now=NOW) == moment.timestamp()


def test_since_that_is_no_time_is_a_value_error():
    with pytest.raises(ValueError):
        keys.parse_since("last tuesday", now=NOW)

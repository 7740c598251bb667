import base64
import os

import pytest

from shared import reasoning_blobs
from shared.reasoning_blobs import InvalidEncryptedContent
from shared.sealing import MasterKeys

MASTER = MasterKeys(os.urandom(32))


def test_a_blob_opens_for_its_project_and_hides_its_text() -> None:
    blob = reasoning_blobs.sealer(MASTER, "team-a")("the model's private thought")
    assert "private" not in blob and "private" not in base64.b64decode(blob.split(":")[-1]).decode("latin-1")
    assert reasoning_blobs.opener(MASTER, "team-a")(blob) == "the model's private thought"


def test_two_seals_of_one_text_differ() -> None:
    seal = reasoning_blobs.sealer(MASTER, "team-a")
    assert seal("x") != seal("x")


def test_a_blob_made_before_a_rotation_opens_with_the_retired_key() -> None:
    old = MasterKeys(os.urandom(32))
    blob = reasoning_blobs.sealer(old, "t")("thought")
    assert reasoning_blobs.opener(MasterKeys(os.urandom(32), retired=(old.current,)), "t")(blob) == "thought"


def _flipped(blob: str) -> str:
    head, payload = blob.rsplit(":", 1)
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1
    return f"{head}:{base64.b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(
    ("blob", "tenant", "master"),
    [
        (reasoning_blobs.sealer(MASTER, "team-a")("x"), "team-b", MASTER),  # another project's
        (reasoning_blobs.sealer(MASTER, "team-a")("x"), "team-a", MasterKeys(os.urandom(32))),  # key gone
        (_flipped(reasoning_blobs.sealer(MASTER, "team-a")("x")), "team-a", MASTER),  # altered
        ("not a blob", "team-a", MASTER),
        (reasoning_blobs.PREFIX + ":" + "0" * 16 + ":%%%", "team-a", MASTER),
    ],
)
def test_anything_else_is_refused(blob: str, tenant: str, master: MasterKeys) -> None:
    with pytest.raises(InvalidEncryptedContent) as refused:
        reasoning_blobs.opener(master, tenant)(blob)
    assert refused.value.status == 400 and refused.value.code == "invalid_encrypted_content"

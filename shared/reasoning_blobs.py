"""``encrypted_content`` of reasoning items: the reasoning text sealed for a client to hold and hand back.

A stateless client (``store: false``, as Codex runs) asks for ``include: ["reasoning.encrypted_content"]``
and sends each reasoning item back in its next request's input; the gateway opens the blob and gives
the model its earlier reasoning again. Nothing is stored server-side, so the blob must carry the text.

Sealed with AES-256-GCM under a key derived (HKDF) from the master key, never with a response's data
key (that one is destroyed when a ``store: false`` response ends), and with the tenant as associated
data: a blob altered, made by another gateway or handed in by another project does not open, and the
request is refused. The blob names the master key that sealed it, so a retired master key
(``GATEWAY_RETIRED_MASTER_KEYS``) still opens blobs made before a rotation.
"""

import base64
import binascii
import functools
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import InvalidRequest
from shared.sealing import KEY_BYTES, MasterKeys

# What a request's `include` names to get the blobs.
INCLUDE = "reasoning.encrypted_content"
PREFIX = "rgw-reasoning-v1"
_NONCE_BYTES = 12
_PURPOSE = b"rgw reasoning encrypted_content v1"

Seal = Callable[[str], str]
Open = Callable[[str], str]


class InvalidEncryptedContent(InvalidRequest):
    code = "invalid_encrypted_content"

    def __init__(self, param: str = "input") -> None:
        super().__init__(
            "The encrypted content of a reasoning item could not be verified: it was altered, or it "
            "was not issued by this gateway for this project.",
            param=param,
        )


def sealer(master: MasterKeys, tenant: str) -> Seal:
    """The function that seals one reasoning text for ``tenant`` with the current master key."""
    kid, key = master.current_id, _derived(master.current)

    def seal(text: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, text.encode(), tenant.encode())
        return f"{PREFIX}:{kid}:{base64.b64encode(nonce + sealed).decode()}"

    return seal


def opener(master: MasterKeys, tenant: str) -> Open:
    """The function that opens a blob ``sealer`` made for ``tenant``; it raises
    ``InvalidEncryptedContent`` for anything else."""
    keys = {kid: _derived(key) for kid, key in master.by_id.items()}

    def open_(blob: str) -> str:
        prefix, kid, payload = [*blob.split(":", 2), "", ""][:3]
        key = keys.get(kid)
        if prefix != PREFIX or key is None:
            raise InvalidEncryptedContent()
        try:
            raw = base64.b64decode(payload, validate=True)
            plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], tenant.encode())
            return plain.decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise InvalidEncryptedContent() from None

    return open_


@functools.cache  # a sealer or opener is made for every request; HKDF showed in their profiles
def _derived(master_key: bytes) -> bytes:
    # A key of its own: the master key itself only ever wraps data keys.
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_PURPOSE).derive(master_key)

"""Who is calling: a Bearer key resolved to the tenant that owns what it creates. Pure."""

import hmac

from shared.errors import AuthenticationFailed
from shared.ids import ANONYMOUS_TENANT

KeyTable = dict[str, str]  # key value -> tenant


def tenant_for(authorization: str | None, keys: KeyTable) -> str:
    """The caller's tenant. With no key configured the gateway is open and everything is one tenant's."""
    if not keys:
        return ANONYMOUS_TENANT
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise AuthenticationFailed(
            "You didn't provide an API key. Provide it in an Authorization header using Bearer auth."
        )
    for key, tenant in keys.items():
        if hmac.compare_digest(key.encode(), presented.strip().encode()):
            return tenant
    raise AuthenticationFailed("Incorrect API key provided.")

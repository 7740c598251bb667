import pytest

from services.api.auth import tenant_for
from shared.errors import AuthenticationFailed
from shared.ids import ANONYMOUS_TENANT

KEYS = {"sk-a": "team-a", "sk-b": "team-b"}


def test_open_gateway_has_one_tenant():
    assert tenant_for(None, {}) == ANONYMOUS_TENANT
    assert tenant_for("Bearer whatever", {}) == ANONYMOUS_TENANT


def test_keys_map_to_their_tenant():
    assert tenant_for("Bearer sk-a", KEYS) == "team-a"
    assert tenant_for("bearer sk-b", KEYS) == "team-b"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer sk-c", "Basic sk-a", "sk-a"])
def test_missing_or_unknown_key_fails(header):
    with pytest.raises(AuthenticationFailed) as err:
        tenant_for(header, KEYS)
    assert err.value.status == 401 and "sk-" not in err.value.message

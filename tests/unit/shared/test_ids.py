"""Identifiers (shared/ids.py): fresh ids at the edge, derived ids that a replay reproduces, and a
tenant name that never reveals the key it came from."""

import re

from shared import ids


def test_a_new_id_carries_its_prefix_and_is_never_repeated():
    minted = {ids.new_id("resp") for _ in range(1000)}
    assert len(minted) == 1000
    assert all(re.fullmatch(r"resp_[0-9a-f]{48}", i) for i in minted)


def test_a_derived_id_is_the_same_for_the_same_parents():
    assert ids.derived_id("msg", "resp_1", 0) == ids.derived_id("msg", "resp_1", 0)
    assert re.fullmatch(r"msg_[0-9a-f]{48}", ids.derived_id("msg", "resp_1", 0))


def test_a_derived_id_differs_with_any_parent_and_with_the_prefix():
    base = ids.derived_id("msg", "resp_1", 0)
    others = {
        ids.derived_id("msg", "resp_1", 1),
        ids.derived_id("msg", "resp_2", 0),
        ids.derived_id("msg", "resp_1", 0, "extra"),
    }
    assert base not in others and len(others) == 3
    assert ids.derived_id("fc", "resp_1", 0).removeprefix("fc_") == base.removeprefix("msg_")
    assert ids.derived_id("fc", "resp_1", 0) != base


def test_a_tenant_of_a_key_is_stable_and_holds_nothing_of_the_key():
    key = "sk-gw-secretvalue"
    tenant = ids.tenant_of_key(key)
    assert tenant == ids.tenant_of_key(key)
    assert re.fullmatch(r"key_[0-9a-f]{24}", tenant)
    assert "secret" not in tenant
    assert ids.tenant_of_key(key + "x") != tenant
    assert tenant != ids.ANONYMOUS_TENANT

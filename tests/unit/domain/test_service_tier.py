from shared.config import Deployment
from shared.domain.routing import body_for

CHAT = {"messages": [{"role": "user", "content": "hi"}], "service_tier": "priority"}


def test_service_tier_is_forwarded_unless_the_deployment_drops_it():
    forwarding = Deployment(name="m", api_base="http://a/v1", model="up")
    assert body_for(CHAT, forwarding)["service_tier"] == "priority"
    dropping = Deployment(name="m", api_base="http://a/v1", model="up", forward_service_tier=False)
    assert "service_tier" not in body_for(CHAT, dropping)
    assert body_for(CHAT, dropping)["messages"] == CHAT["messages"]
    assert CHAT["service_tier"] == "priority"  # the translated body itself is left alone

import pytest

from services.worker.routing import body_for, choose_deployment
from shared.config import Deployment, GatewayConfig
from shared.errors import InvalidRequest

CONFIG = GatewayConfig(
    models=[
        Deployment(name="small", api_base="http://a/v1", model="up-small"),
        Deployment(
            name="big", api_base="http://b/v1", model="up-big", max_tokens_param="max_completion_tokens"
        ),
    ]
)


def test_body_is_addressed_to_the_deployment_and_streams_usage():
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 9, "temperature": 0.1}
    assert body_for(chat, CONFIG.models[0]) == {
        **chat,
        "model": "up-small",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    renamed = body_for(chat, CONFIG.models[1])
    assert renamed["max_completion_tokens"] == 9 and "max_tokens" not in renamed
    assert chat["max_tokens"] == 9  # the event's body is not mutated


def test_unknown_model_is_model_not_found():
    assert choose_deployment(CONFIG, "big").model == "up-big"
    with pytest.raises(InvalidRequest) as err:
        choose_deployment(CONFIG, "huge")
    assert err.value.code == "model_not_found"

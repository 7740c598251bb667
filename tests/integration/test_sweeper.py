"""The store's sweeper against real processes: a response nobody can run ends ``failed`` by itself,
once, and a worker that comes back later leaves it so. A stack of this module's own, with a short
deadline and grace, so the session's stack and test_faults.py's keep theirs."""

import asyncio
from collections.abc import Iterator

import nats
import openai
import pytest

from deploy.local.stack import Stack
from shared import subjects

from .stacks import module_stack, one_model, until

KEY = "sk-sweeper"
DEADLINE_S = 2
GRACE_S = 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, mock_url: str) -> Iterator[Stack]:
    env = {
        "SWEEPER_KEY": KEY,
        "REQUEST_DEADLINE_S": str(DEADLINE_S),
        "SWEEP_GRACE_S": str(GRACE_S),
        "SWEEP_INTERVAL_S": "0.5",
    }
    with module_stack(
        tmp_path_factory, mock_url, "sweeper", config=one_model("SWEEPER_KEY", "sweeper"), env=env
    ) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stack.api_url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def _logged(client: openai.OpenAI, response_id: str) -> list[tuple[str, int]]:
    return [(e.type, e.sequence_number) for e in client.responses.retrieve(response_id, stream=True)]


def _worker_idle(nats_url: str) -> bool:
    async def idle() -> bool:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().consumer_info(subjects.STREAM, "worker")
        finally:
            await nc.close()
        return not (info.num_pending or info.num_ack_pending)

    return asyncio.run(idle())


def test_a_background_response_nobody_runs_ends_failed_by_itself(stack, client, mock_llm):
    stack.kill("worker")
    started = client.responses.create(model="m1", input="nobody runs me", background=True)
    assert started.status == "queued"

    def ended():
        response = client.responses.retrieve(started.id)
        return response if response.status not in ("queued", "in_progress") else None

    final = until(ended, f"{started.id} ends")
    assert final.status == "failed"
    assert final.error.code == "server_error" and "deadline" in final.error.message
    assert _logged(client, started.id) == [("response.queued", 0), ("response.failed", 1)]

    # The call is delivered once a worker is back; the log has ended, so the response stays as it is.
    stack.restart("worker")
    until(lambda: _worker_idle(stack.nats_url), "the worker has settled the call")
    assert client.responses.retrieve(started.id).status == "failed"
    assert _logged(client, started.id) == [("response.queued", 0), ("response.failed", 1)]

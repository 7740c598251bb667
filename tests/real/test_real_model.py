"""The gateway with a real model behind it, through the openai SDK: create, stream, a chain that must
remember, structured output; then time to first token and tokens/s, direct and through the gateway.

A 0.5B model words things its own way, so the checks ask it to repeat a word or a number, or check
structure, never exact sentences. Output budgets are small: the CPU is shared."""

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from pydantic import BaseModel, ConfigDict

from . import speed
from .conftest import MODEL
from .llama import MODEL_ALIAS

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"
# Per path: one unmeasured warm-up, then this many measured answers, the paths taking turns.
SPEED_SAMPLES = 5
SPEED_MAX_TOKENS = 64


def ask(client: openai.OpenAI, prompt: str, max_output_tokens: int = 16, **options: Any) -> Any:
    """The model's greedy answer through the gateway (temperature 0: the same question, the same words)."""
    return client.responses.create(
        model=MODEL, input=prompt, max_output_tokens=max_output_tokens, temperature=0, **options
    )


def test_create_answers_through_the_gateway(gateway_client: openai.OpenAI) -> None:
    response = ask(gateway_client, "Reply with exactly one word, in capitals: PINEAPPLE")
    assert response.status == "completed"
    assert "PINEAPPLE" in response.output_text.upper()
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.usage.input_tokens > 0


def test_stream_deltas_add_up_to_the_completed_text(gateway_client: openai.OpenAI) -> None:
    events = list(ask(gateway_client, "Reply with exactly one word, in capitals: MANGO", stream=True))
    types = [event.type for event in events]
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    completed = events[-1].response
    assert deltas == completed.output_text
    assert "MANGO" in deltas.upper()


def test_chain_remembers_a_fact_from_the_first_turn(gateway_client: openai.OpenAI) -> None:
    first = ask(gateway_client, "My locker number is 4817. Remember it. Reply only with OK.")
    # The fact is only in turn 1: the model can answer only if the gateway replays the chain.
    second = ask(
        gateway_client,
        "What is my locker number? Reply with the number only.",
        previous_response_id=first.id,
    )
    assert second.previous_response_id == first.id
    assert "4817" in second.output_text


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    age: int


def test_structured_output_matches_the_schema(gateway_client: openai.OpenAI) -> None:
    response = ask(
        gateway_client,
        "Alice is 31 years old. Give her name and age as JSON.",
        max_output_tokens=48,
        text={
            "format": {
                "type": "json_schema",
                "name": "person",
                "schema": Person.model_json_schema(),
                "strict": True,
            }
        },
    )
    # Valid JSON with exactly the schema's fields and types; llama.cpp enforces it with a grammar.
    person = Person.model_validate_json(response.output_text)
    assert "alice" in person.name.lower()
    assert person.age == 31


def test_speed_direct_and_through_the_gateway(
    direct_client: openai.OpenAI, gateway_client: openai.OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measured, printed and saved to ``bench/results/real-model-<time>.json``; not asserted on."""
    paths = {
        "direct": lambda: speed.direct(direct_client, MODEL_ALIAS, SPEED_MAX_TOKENS),
        "gateway": lambda: speed.gateway(gateway_client, MODEL, SPEED_MAX_TOKENS),
    }
    for warm_up in paths.values():
        warm_up()
    samples: dict[str, list[speed.Sample]] = {path: [] for path in paths}
    for _ in range(SPEED_SAMPLES):
        for path, answer in paths.items():
            samples[path].append(answer())
    results = {
        "model": MODEL_ALIAS,
        "max_tokens": SPEED_MAX_TOKENS,
        "prompt": speed.PROMPT,
        **{path: speed.summary(taken) for path, taken in samples.items()},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    saved = RESULTS_DIR / f"real-model-{time.strftime('%Y%m%d-%H%M%S')}.json"
    saved.write_text(json.dumps(results, indent=2))
    with capsys.disabled():
        print(f"\nreal model {MODEL_ALIAS}, {SPEED_MAX_TOKENS} output tokens, medians of {SPEED_SAMPLES}:")
        for path in paths:
            row = results[path]
            print(f"  {path:8} ttft {row['ttft_ms_p50']:8.1f} ms   {row['tokens_per_s_p50']:6.1f} tokens/s")
        print(f"  saved to {saved}")
    # Both paths decoded: the figures above describe real answers.
    assert all(sample.tokens > 1 for taken in samples.values() for sample in taken)

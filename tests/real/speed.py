"""Time to first token and tokens/s of one streamed answer, asked of llama-server directly (Chat
Completions) or through the gateway (Responses), with the same prompt and output budget. These are
measurements to print and save, never to assert on: the machine is shared."""

import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import openai

# Long enough that every request spends its whole budget, so both paths decode the same number of tokens.
PROMPT = "Count from 1 to 200, separated by commas. Output only the numbers."


@dataclass(frozen=True)
class Sample:
    """One streamed answer: seconds from sending to the first and the last text delta, and its output
    tokens as the server's usage counts them."""

    first_s: float
    last_s: float
    tokens: int

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: the tokens after the first over the time they took."""
        return (self.tokens - 1) / (self.last_s - self.first_s) if self.last_s > self.first_s else 0.0


def direct(client: openai.OpenAI, model: str, max_tokens: int) -> Sample:
    start = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter() - start)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    return _sample(stamps, tokens)


def gateway(client: openai.OpenAI, model: str, max_tokens: int) -> Sample:
    start = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    stream = client.responses.create(
        model=model, input=PROMPT, max_output_tokens=max_tokens, temperature=0, stream=True
    )
    for event in stream:
        if event.type == "response.output_text.delta":
            stamps.append(time.perf_counter() - start)
        # An answer cut at the budget ends incomplete (reason max_output_tokens), as OpenAI's does.
        elif event.type in ("response.completed", "response.incomplete") and event.response.usage:
            tokens = event.response.usage.output_tokens
    return _sample(stamps, tokens)


def _sample(stamps: list[float], tokens: int) -> Sample:
    if not stamps or not tokens:
        raise AssertionError(
            f"a streamed answer without text or usage: {len(stamps)} deltas, {tokens} tokens"
        )
    return Sample(first_s=stamps[0], last_s=stamps[-1], tokens=tokens)


def summary(samples: Iterable[Sample]) -> dict:
    """Medians over the samples, and the samples themselves."""
    samples = list(samples)
    return {
        "ttft_ms_p50": round(statistics.median(s.first_s for s in samples) * 1000, 1),
        "tokens_per_s_p50": round(statistics.median(s.tokens_per_s for s in samples), 1),
        "output_tokens": [s.tokens for s in samples],
        "samples": [asdict(s) for s in samples],
    }

"""One fault drill: bounded load from openai-SDK clients while a fault strikes, then an audit of what
the clients got against what the log (JetStream) and the projection (GET) hold.

The load: ``clients`` clients, each sending one request after another for ``seconds``, in turn
streamed, plain and background, to the api replicas in turn. The audit reads every event logged
since the drill began, waits (bounded) until every response has ended, and lists what breaks the bar:

- a response a client got as completed is completed in GET and in the log, with the same text;
- the status a client got is the one the log ends with;
- no response stays queued / in_progress (in the log or in GET) past its deadline and the sweeper;
- no response has two terminal events; sequence numbers are unique, and dense where every event is
  logged (streamed and background responses), and the terminal event is the last;
- a failed request is an HTTP 429 / 5xx with a message, or a refused connection at an api replica
  the drill killed; never a client timeout.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import nats
import openai
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamInfo

from deploy.local.cluster import ClusterStack
from shared import eventlog, sealing, subjects
from shared.events import (
    ChatCallRequested,
    ResponseRequested,
    ResponseStreamed,
    StreamMessage,
    client_events,
)

MODEL = "m"
KINDS = ("stream", "plain", "background")
# A request's answer: eight chunks, 50 ms apart, so that a fault finds responses half-way.
REPLY = {"content": "one two three four five six seven eight", "chunk_chars": 5, "delay_s": 0.05}
OPEN = {"queued", "in_progress"}


@dataclass
class Outcome:
    """What one client request got."""

    client: int
    kind: str
    api: str  # the api replica it was sent to
    started: float  # seconds since the drill began
    ended: float = 0.0
    response_id: str | None = None
    status: str | None = None  # the Response status the client got, if it got one
    output: str | None = None
    error: str | None = None  # what went wrong when it got none
    refused: bool = False  # the connection to the api failed
    retryable: bool = False  # an HTTP 429 / 5xx with a message


@dataclass
class Trail:
    """What the log holds of one response."""

    requested: bool = False
    call: ChatCallRequested | None = None
    events: list[ResponseStreamed] = field(default_factory=list)  # in stream order

    @property
    def terminals(self) -> list[ResponseStreamed]:
        return [e for e in self.events if e.is_terminal]

    @property
    def every_event_logged(self) -> bool:
        return self.call is not None and (self.call.stream or self.call.background)


@dataclass
class Report:
    name: str
    outcomes: list[Outcome]
    fault_at: float
    trails: dict[str, Trail]
    projected: dict[str, str | None]  # response id -> GET status (None: not found)
    waited_s: float
    problems: list[str]
    notes: dict[str, str] = field(default_factory=dict)

    def figures(self) -> str:
        got = Counter(o.status or ("refused" if o.refused else "error") for o in self.outcomes)
        errors = Counter(o.error for o in self.outcomes if o.error)
        after = [o for o in self.outcomes if o.started >= self.fault_at and o.status == "completed"]
        recovery = min((o.ended for o in after), default=None)
        failures = [o.ended for o in self.outcomes if o.status != "completed"]
        took = sorted(o.ended - o.started for o in self.outcomes if o.status == "completed")
        lines = [
            f"drill {self.name}: {len(self.outcomes)} requests, {got['completed']} completed, "
            f"{sum(v for k, v in got.items() if k != 'completed')} not ({dict(got)})",
            f"  fault at +{self.fault_at:.1f}s; first success started after it ended at "
            + (f"+{recovery:.1f}s ({recovery - self.fault_at:.1f}s after the fault)" if recovery else "never")
            + (f"; last failure at +{max(failures):.1f}s" if failures else ""),
            f"  completed in {took[len(took) // 2]:.2f}s (median), {took[-1]:.2f}s (slowest)" if took else "",
            f"  log: {len(self.trails)} responses; every one ended within {self.waited_s:.1f}s of the load",
            *(f"  {k}: {v}" for k, v in self.notes.items()),
            *(f"  error x{n}: {e}" for e, n in errors.most_common(6)),
        ]
        return "\n".join(lines)


class Drill:
    def __init__(self, cluster: ClusterStack, *, key: str, deadline_s: float, sweep_s: float) -> None:
        self.cluster = cluster
        self.key = key
        self.deadline_s = deadline_s
        self.sweep_s = sweep_s
        self.killed_apis: set[str] = set()
        self.notes: dict[str, str] = {}

    @property
    def apis(self) -> dict[str, str]:
        return {p.name: p.url for p in self.cluster.processes.values() if p.name.startswith("api") and p.url}

    async def run(
        self,
        name: str,
        *,
        fault: Callable[[], object],
        heal: Callable[[], object] = lambda: None,
        clients: int = 8,
        seconds: float = 10.0,
        fault_at: float = 3.0,
        client_timeout_s: float = 45.0,
    ) -> Report:
        since = await self.last_sequence()
        began = time.monotonic()
        outcomes: list[Outcome] = []
        sdks = {
            api: openai.AsyncOpenAI(
                base_url=f"{url}/v1", api_key=self.key, max_retries=0, timeout=client_timeout_s
            )
            for api, url in self.apis.items()
        }
        try:
            load = [
                asyncio.create_task(self._client(i, sdks, began, began + seconds, outcomes, client_timeout_s))
                for i in range(clients)
            ]
            await asyncio.sleep(fault_at)
            fault_time = time.monotonic() - began
            await asyncio.to_thread(fault)
            await asyncio.gather(*load)
            await asyncio.to_thread(heal)
            await asyncio.to_thread(self.cluster.wait_ready)
            trails, projected, waited = await self._settled(sdks, outcomes, since, began + seconds)
        finally:
            for sdk in sdks.values():
                await sdk.close()
        problems = self._problems(outcomes, trails, projected)
        return Report(name, outcomes, fault_time, trails, projected, waited, problems, dict(self.notes))

    async def last_sequence(self) -> int:
        return (await self._stream_info()).state.last_seq

    async def stream_leader(self) -> str:
        info = await self._stream_info()
        assert info.cluster is not None and info.cluster.leader, info
        return info.cluster.leader

    async def _stream_info(self, patience_s: float = 30.0) -> StreamInfo:
        """The log's stream info, asked again while the cluster settles after a fault (bounded)."""
        until = time.monotonic() + patience_s
        while True:
            try:
                async with await self._nats() as nc:
                    return await nc.jetstream().stream_info(subjects.STREAM)
            except nats.errors.Error:
                if time.monotonic() > until:
                    raise
                await asyncio.sleep(0.5)

    async def _nats(self) -> nats.NATS:
        return await nats.connect(self.cluster.node_urls, connect_timeout=2, max_reconnect_attempts=5)

    async def _client(
        self,
        number: int,
        sdks: dict[str, openai.AsyncOpenAI],
        began: float,
        until: float,
        outcomes: list[Outcome],
        timeout_s: float,
    ) -> None:
        names = sorted(sdks)
        sent = 0
        while time.monotonic() < until:
            api = names[(number + sent) % len(names)]
            kind = KINDS[(number + sent) % len(KINDS)]
            outcome = Outcome(number, kind, api, started=time.monotonic() - began)
            text = f"client {number} request {sent}"
            try:
                await asyncio.wait_for(
                    self._request(sdks, api, kind, text, outcome, timeout_s), timeout_s * 2
                )
            except (openai.APITimeoutError, TimeoutError):
                outcome.error = "client timeout"
            except openai.APIConnectionError as error:
                outcome.refused, outcome.error = True, f"connection: {type(error.__cause__).__name__}"
            except openai.APIStatusError as error:
                message = str(error.body.get("message", "")) if isinstance(error.body, dict) else ""
                outcome.retryable = (error.status_code == 429 or error.status_code >= 500) and bool(message)
                outcome.error = f"HTTP {error.status_code}: {message[:120]}"
            outcome.ended = time.monotonic() - began
            outcomes.append(outcome)
            sent += 1

    async def _request(
        self,
        sdks: dict[str, openai.AsyncOpenAI],
        api: str,
        kind: str,
        text: str,
        outcome: Outcome,
        timeout_s: float,
    ) -> None:
        sdk = sdks[api]
        if kind == "plain":
            response = await sdk.responses.create(model=MODEL, input=text)
        elif kind == "stream":
            response = None
            async with await sdk.responses.create(model=MODEL, input=text, stream=True) as events:
                async for event in events:
                    if outcome.response_id is None and getattr(event, "response", None) is not None:
                        outcome.response_id = event.response.id
                    if event.type == "error":  # a stream's way to fail once its 200 is sent
                        message = getattr(event, "message", "") or ""
                        outcome.retryable = bool(message)
                        outcome.error = (
                            f"stream error event ({getattr(event, 'code', None)}): {message[:120]}"
                        )
                        return
                    if event.type in ("response.completed", "response.failed", "response.incomplete"):
                        response = event.response
            if response is None:
                outcome.error = "stream ended without a terminal event"
                return
        else:
            response = await sdk.responses.create(model=MODEL, input=text, background=True)
            outcome.response_id = response.id
            response = await self._poll(sdks, api, response.id, timeout_s)
        outcome.response_id, outcome.status = response.id, response.status
        outcome.output = response.output_text

    async def _poll(self, sdks: dict[str, openai.AsyncOpenAI], api: str, response_id: str, timeout_s: float):
        """A background response until it ends, from any replica that answers."""
        until = time.monotonic() + timeout_s
        names = sorted(sdks)
        turn = names.index(api)
        while True:
            try:
                response = await sdks[names[turn % len(names)]].responses.retrieve(response_id)
                if response.status not in OPEN:
                    return response
            except openai.APIConnectionError:
                turn += 1  # that replica is down: ask another
            if time.monotonic() > until:
                raise openai.APITimeoutError(request=httpx.Request("GET", response_id))
            await asyncio.sleep(0.2)

    async def _settled(
        self, sdks: dict[str, openai.AsyncOpenAI], outcomes: list[Outcome], since: int, load_end: float
    ) -> tuple[dict[str, Trail], dict[str, str | None], float]:
        """Read the log and GET every response until all have ended, bounded by the deadline and a
        sweep after the load."""
        bound = load_end + self.deadline_s + self.sweep_s + 10
        sdk = sdks[sorted(sdks)[0]]
        projected: dict[str, str | None] = {}
        while True:
            try:
                trails = await self._read_log(since)
            except nats.errors.Error:  # the log is still settling after the fault: read it again
                if time.monotonic() > bound:
                    raise
                await asyncio.sleep(1.0)
                continue
            ids = set(trails) | {o.response_id for o in outcomes if o.response_id}
            for i in sorted(ids):
                if projected.get(i) in OPEN | {None}:  # an ended response stays ended
                    projected[i] = await self._status(sdk, i)
            open_ = [i for i in ids if projected[i] in OPEN or not trails.get(i, Trail()).terminals]
            if not open_ or time.monotonic() > bound:
                return trails, projected, time.monotonic() - load_end
            await asyncio.sleep(1.0)

    async def _status(self, sdk: openai.AsyncOpenAI, response_id: str) -> str | None:
        try:
            return (await sdk.responses.retrieve(response_id)).status
        except openai.NotFoundError:
            return None

    async def _read_log(self, since: int) -> dict[str, Trail]:
        trails: dict[str, Trail] = {}
        async with await self._nats() as nc:
            js = nc.jetstream()
            # Read as the services read it: sealed content opens with the cluster's master key.
            master = sealing.master_keys_from(self.cluster.extra_env)
            await eventlog.seal_with(js, master, ttl_s=3600, cache_s=0)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=since + 1,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=30.0,
                mem_storage=True,
                num_replicas=1,
            )
            sub = await js.pull_subscribe("resp.>", stream=subjects.STREAM, config=config)
            while True:
                try:
                    batch = await sub.fetch(512, timeout=2.0)
                except nats.errors.TimeoutError:
                    break
                for msg in batch:
                    event = await eventlog.decode(js, msg)
                    trail = trails.setdefault(event.response_id, Trail())
                    if isinstance(event, ResponseRequested):
                        trail.requested = True
                    elif isinstance(event, ChatCallRequested):
                        trail.call = event
                    elif isinstance(event, StreamMessage):
                        trail.events += client_events(event)
                if batch[-1].metadata.num_pending == 0:
                    break
            await sub.unsubscribe()
        return trails

    def _problems(
        self, outcomes: list[Outcome], trails: dict[str, Trail], projected: dict[str, str | None]
    ) -> list[str]:
        problems = []
        for o in outcomes:
            if o.error == "client timeout":
                problems.append(f"client {o.client} ({o.kind} via {o.api}) hung until its timeout")
            elif o.refused and o.api not in self.killed_apis:
                problems.append(f"client {o.client} ({o.kind}): {o.error} at {o.api}, which was not killed")
            elif o.error and not o.refused and not o.retryable:
                problems.append(
                    f"client {o.client} ({o.kind} via {o.api}): {o.error} is not a retryable error"
                )
            if o.status is None or o.response_id is None:
                continue
            trail = trails.get(o.response_id, Trail())
            ended = trail.terminals[-1].type.removeprefix("response.") if trail.terminals else None
            if ended != o.status:
                problems.append(f"{o.response_id}: the client got {o.status}, the log ends {ended}")
            if o.status == "completed" and projected.get(o.response_id) != "completed":
                problems.append(
                    f"{o.response_id}: completed for the client, {projected.get(o.response_id)} in GET"
                )
            if o.status == "completed" and trail.terminals:
                logged_text = _text(trail.terminals[-1].payload["response"])
                if logged_text != o.output:
                    problems.append(
                        f"{o.response_id}: the client got {o.output!r}, the log holds {logged_text!r}"
                    )
        for response_id, trail in trails.items():
            problems += _trail_problems(response_id, trail, projected.get(response_id))
        return problems


def _trail_problems(response_id: str, trail: Trail, status: str | None) -> list[str]:
    problems = []
    if trail.requested and status in OPEN | {None}:
        problems.append(f"{response_id}: {status} in GET past its deadline and a sweep")
    if trail.requested and not trail.terminals:
        problems.append(f"{response_id}: no terminal event in the log")
    if len(trail.terminals) > 1:
        problems.append(
            f"{response_id}: {len(trail.terminals)} terminal events {[e.type for e in trail.terminals]}"
        )
    numbers = [e.sequence_number for e in trail.events]
    if len(set(numbers)) != len(numbers):
        problems.append(f"{response_id}: sequence numbers logged twice {sorted(numbers)}")
    elif trail.every_event_logged and sorted(numbers) != list(range(len(numbers))):
        problems.append(f"{response_id}: sequence numbers not dense {sorted(numbers)}")
    if trail.terminals and numbers and trail.terminals[0].sequence_number != max(numbers):
        problems.append(f"{response_id}: events numbered after its terminal event {sorted(numbers)}")
    if trail.terminals and status not in (None, *OPEN) and f"response.{status}" != trail.terminals[-1].type:
        problems.append(f"{response_id}: GET says {status}, the log ends {trail.terminals[-1].type}")
    return problems


def _text(response: dict) -> str:
    return "".join(
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )

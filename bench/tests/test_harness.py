"""The harness's own correctness: the mock backend and the lean client speak HTTP/1.1 to each other,
the parser handles every body framing, and the pure summaries say what they should. No timing."""

import asyncio
import json
import subprocess
import sys

import pytest

from bench import mock_backend, procs, profile, report, scenarios, soak, stats
from bench.__main__ import parse_plan
from bench.client import Connection, _ResponseParser
from bench.load import Target, run_cell
from bench.run import gateway_config
from shared.config import GatewayConfig


@pytest.fixture
async def backend():
    """The mock backend on a free port inside this event loop: 3 tokens, no delay."""
    replies = mock_backend.build_replies(3)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: mock_backend._Connection(replies, 0.0, 3), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield Target("direct", f"http://127.0.0.1:{port}", "chat", "bench")
    server.close()
    await server.wait_closed()


def _events(body: bytes) -> list[dict]:
    lines = [line[6:] for line in body.decode().split("\n") if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


async def test_non_stream_reply_is_a_chat_completion(backend):
    connection = await backend.connect()
    exchange = await connection.post(backend.path, backend.body(False))
    connection.close()
    reply = json.loads(exchange.body)
    assert exchange.status == 200 and backend.failure(False, exchange) is None
    assert reply["choices"][0]["message"]["content"] == mock_backend.TOKEN * 3
    assert reply["usage"]["completion_tokens"] == 3


async def test_a_paced_backend_answers_non_stream_calls_whole_and_keeps_the_connection():
    replies = mock_backend.build_replies(3)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: mock_backend._Connection(replies, 0.001, 3), "127.0.0.1", 0)
    target = Target("direct", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", "chat", "bench")
    connection = await target.connect()
    try:
        exchanges = [await connection.post(target.path, target.body(False)) for _ in range(2)]
    finally:
        connection.close()
        server.close()
        await server.wait_closed()
    for exchange in exchanges:
        assert json.loads(exchange.body)["choices"][0]["message"]["content"] == mock_backend.TOKEN * 3


async def test_stream_sends_tokens_then_finish_then_usage_then_done(backend):
    connection = await backend.connect()
    exchange = await connection.post(backend.path, backend.body(True), backend.first_marker)
    connection.close()
    chunks = _events(exchange.body)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert contents == ["", *[mock_backend.TOKEN] * 3, None]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 13
    assert exchange.body.rstrip().endswith(b"data: [DONE]")
    assert exchange.ttft is not None and backend.failure(True, exchange) is None


async def test_usage_chunk_only_when_asked(backend):
    connection = await backend.connect()
    body = json.dumps({"model": "bench", "messages": [], "stream": True}).encode()
    exchange = await connection.post(backend.path, body)
    connection.close()
    assert all("usage" not in chunk for chunk in _events(exchange.body))


async def test_keep_alive_serves_many_requests_on_one_connection(backend):
    connection = await backend.connect()
    for stream in (False, True, False, True):
        exchange = await connection.post(backend.path, backend.body(stream), backend.first_marker)
        assert backend.failure(stream, exchange) is None
    assert not connection.closed
    connection.close()


async def test_slow_stream_spaces_tokens():
    replies = mock_backend.build_replies(2)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: mock_backend._Connection(replies, 0.05, 2), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connection = await Connection.open("127.0.0.1", port)
    seen = []
    target = Target("direct", f"http://127.0.0.1:{port}", "chat", "bench")
    exchange = await connection.post(
        target.path, target.body(True), target.first_marker, lambda: seen.append(1)
    )
    connection.close()
    server.close()
    assert seen == [1] and target.failure(True, exchange) is None
    assert exchange.first_at is not None and exchange.done_at > exchange.first_at


async def test_run_cell_counts_requests_and_cpu(backend):
    cell = await run_cell(backend, True, concurrency=2, duration_s=0.2, warmup_s=0.0)
    assert cell.errors == 0 and len(cell.latencies) == len(cell.ttfts) > 0
    assert set(cell.cpu_s) == {"loadgen"} and cell.elapsed_s > 0


async def test_unreachable_target_is_recorded_as_errors_not_raised():
    target = Target("gateway", "http://127.0.0.1:9", "responses", "bench")
    cell = await run_cell(target, False, concurrency=1, duration_s=0.1, warmup_s=0.0)
    assert cell.failed and cell.errors > 0 and "Error" in (cell.first_error or "")


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=1\r\nllo\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
    ],
)
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_parser_reassembles_bodies_split_anywhere(wire, step):
    parser = _ResponseParser(b"ll", None)
    for i in range(0, len(wire), step):
        parser.feed(wire[i : i + step])
    assert parser.done and parser.status == 200 and bytes(parser.body) == b"hello"
    assert parser.first_at is not None  # the marker is found even when split across reads


def test_parser_body_until_close():
    parser = _ResponseParser(None, None)
    parser.feed(b"HTTP/1.1 500 Oops\r\n\r\npartial")
    assert not parser.done
    parser.close()
    assert parser.done and parser.status == 500 and bytes(parser.body) == b"partial"


def test_percentile_interpolates():
    assert stats.percentile([], 50) is None
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert stats.percentile([1.0, 2.0], 50) == 1.5
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0


def test_summary_compares_with_direct():
    direct = stats.Cell("direct", False, 1, elapsed_s=1.0, latencies=[0.001, 0.001])
    ours = stats.Cell("gateway", False, 1, elapsed_s=2.0, latencies=[0.003, 0.003], cpu_s={"api": 0.002})
    row = stats.summary(ours, direct, cpus=2)
    assert row["rps"] == 1.0 and row["p50_ms"] == 3.0 and row["added_p50_ms"] == 2.0
    assert row["cpu_ms_per_request"] == {"api": 1.0} and row["added_ttft_p50_ms"] is None


def _results(ours_rps: float, theirs_rps: float, chain: dict | None) -> dict:
    def row(target: str, mode: str, conc: int, **figures: object) -> dict:
        return {"target": target, "mode": mode, "concurrency": conc, **figures}

    cpu = {"api": 2.0, "store": 2.0, "mongo": 3.0, "nats": 0.5, "mock": 0.1, "loadgen": 0.2}
    return {
        "cells": [
            row("gateway", "non-stream", 1, added_p50_ms=4.5),
            row("gateway", "stream", 1, added_ttft_p50_ms=5.5),
            row("gateway", "non-stream", 16, rps=ours_rps, errors=0, cpu_ms_per_request=cpu),
            row("litellm", "non-stream", 16, rps=theirs_rps),
            row("gateway", "non-stream", 64, rps=ours_rps, errors=3),
            row("litellm", "non-stream", 64, rps=theirs_rps),
        ],
        "chain_depth": chain,
    }


def test_goals_judge_each_measurement():
    chain = {"depths": {"1": {"p50_ms": 10.0}, "100": {"p50_ms": 12.5}}}
    results = _results(300.0, 70.0, chain)
    results["open_streams"] = {"peak_open": 1000, "kb_per_stream": 149.0}
    results["sporadic"] = {
        "gap_s": 6.0,
        "modes": {
            "non-stream": {"idle_minus_warm_p50_ms": 3.0},
            "stream": {"idle_minus_warm_p50_ms": 3990.0},
        },
    }
    results["soak"] = {"last_vs_first": 0.29}
    verdicts = {g["goal"]: g["met"] for g in report.goals(results)}
    assert verdicts == {
        "added p50 latency, non-stream, c=1": True,
        "added time to first token p50, c=1": False,
        "throughput vs litellm, non-stream, c=16, no errors": True,
        "throughput vs litellm, stream, c=16, no errors": None,
        "throughput vs litellm, non-stream, c=64, no errors": False,  # errors, however fast
        "throughput vs litellm, stream, c=64, no errors": None,
        "whole-system CPU per request, non-stream, c=16": True,  # 7.5 ms: mock and loadgen are outside
        "100-turn chain minus 1-turn chain, p50": True,
        "1000 open streams, KB per stream": True,
        "after 6 s idle minus warm, non-stream, p50": True,
        "after 6 s idle minus warm, stream, p50": False,
        "soak: last window's throughput / first's": False,
    }
    system = next(g for g in report.goals(results) if g["goal"].startswith("whole-system"))
    assert system["value"] == 7.5 and system["met"] is True
    missing = report.goals(_results(200.0, 70.0, {"error": "boom"}))
    assert [g["met"] for g in missing][2:4] == [False, None]
    assert [g["met"] for g in missing][7:9] == [None, None]


def test_goals_compare_with_each_litellm_measured():
    results = _results(300.0, 70.0, None)
    results["cells"].append({"target": "litellm-db", "mode": "non-stream", "concurrency": 16, "rps": 50.0})
    names = [g["goal"] for g in report.goals(results) if g["goal"].startswith("throughput")]
    assert len(names) == 8 and "throughput vs litellm-db, non-stream, c=16, no errors" in names


def test_failed_cell_shows_in_table_instead_of_crashing():
    cell = stats.Cell("gateway", False, 16)
    cell.record_error("HTTP 502: bad gateway")
    results = {"cells": [stats.summary(cell, None, cpus=2)], "targets": {"gateway": {"error": None}}}
    assert "FAILED" in report.latency_table(results)
    assert "HTTP 502" in report.failures_text(results)


def test_gateway_config_is_valid_for_the_gateway():
    config = GatewayConfig.model_validate(gateway_config("http://127.0.0.1:1", "http://127.0.0.1:2"))
    assert config.deployment("bench").api_base == "http://127.0.0.1:1/v1"
    assert config.deployment("bench-hold").api_base == "http://127.0.0.1:2/v1"


async def test_sporadic_times_an_idle_request_and_a_warm_one_per_sample(backend):
    idle = await scenarios.sporadic(backend, count=2, gap_s=0.0)
    assert idle["count"] == 2 and set(idle["modes"]) == {"non-stream", "stream"}
    for figures in idle["modes"].values():
        assert len(figures["idle_ms"]) == 2 and figures["idle_max_ms"] == max(figures["idle_ms"])
        assert figures["warm_p50_ms"] > 0 and figures["idle_minus_warm_p50_ms"] is not None
    assert "idle - warm" in report.sporadic_table({"sporadic": idle})


async def test_soak_measures_windows_until_its_bound(backend):
    plan = soak.SoakPlan(responses=1, max_s=60.0, window_s=0.2, concurrency=2)
    soaked = await soak.soak(backend, plan, progress=lambda line: None)
    assert len(soaked["windows"]) == 1 and soaked["responses"] >= 1  # one window reaches the bound
    assert soaked["errors"] == 0 and soaked["last_vs_first"] is None  # one window: nothing to compare
    assert "last window / first" in report.soak_table({"soak": soaked})


def test_soak_verdict_compares_the_last_window_with_the_first():
    def window(rps: float, total: int) -> dict:
        return {"rps": rps, "responses_total": total, "errors": 1}

    verdict = soak.verdict([window(80.0, 4800), window(40.0, 7200), window(72.0, 11520)])
    assert (verdict["first_rps"], verdict["last_rps"], verdict["last_vs_first"]) == (80.0, 72.0, 0.9)
    assert (verdict["responses"], verdict["errors"]) == (11520, 3)
    assert soak.verdict([])["last_vs_first"] is None


def test_single_scenarios_run_alone_on_the_gateway():
    plan, _ = parse_plan(["--sporadic"])
    assert (plan.targets, plan.concurrency, plan.chain_depths, plan.streams) == (("gateway",), (), (), 0)
    assert (plan.sporadic, plan.soak) == (6, None)
    plan, _ = parse_plan(["--soak", "--soak-responses", "500", "--soak-window", "10"])
    assert plan.sporadic == 0 and plan.soak == soak.SoakPlan(500, 900.0, 10.0, 16)
    full, _ = parse_plan(["--quick"])
    assert full.sporadic == 2 and full.soak is None and "litellm" in full.targets


def test_top_frames_ranks_own_and_inclusive_samples():
    raw = "\n".join(
        [
            "process 1;thread (0x1);main (a.py:1);work (a.py:5);encode (b.py:9) 6",
            "process 1;thread (0x1);main (a.py:1);work (a.py:5) 2",
            "process 1;thread (0x1);main (a.py:1);idle (c.py:3) 2",
        ]
    )
    text = profile.top_frames(raw)
    own, inclusive = text.split("inclusive")
    assert text.startswith("10 busy samples")
    assert own.index("60.0%  encode (b.py:9)") < own.index("20.0%  work (a.py:5)")
    assert "100.0%  main (a.py:1)" in inclusive and "80.0%  work (a.py:5)" in inclusive
    assert "thread" not in text and "process" not in text


def test_single_scenario_flags_run_only_that_scenario_on_the_gateway():
    chain, _ = parse_plan(["--chain"])
    streams, _ = parse_plan(["--open-streams"])
    assert chain.targets == streams.targets == ("gateway",)
    assert chain.chain_depths == (1, 10, 100) and not chain.streams and not chain.concurrency
    assert streams.streams == 1000 and not streams.chain_depths and not streams.sporadic


_WRITER = """
import os, sys
print("ready", flush=True)
sys.stdin.readline()
for _ in range(50):
    os.write(2, b"x")
print("done", flush=True)
sys.stdin.readline()
"""


def test_kernel_calls_count_what_a_process_asked_between_two_readings():
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
    child = subprocess.Popen([sys.executable, "-c", _WRITER], **pipes)
    assert child.stdin and child.stdout
    try:
        assert child.stdout.readline() == b"ready\n"
        before = procs.kernel_calls({"child": child.pid})
        child.stdin.write(b"go\n")
        child.stdin.flush()
        assert child.stdout.readline() == b"done\n"
        counted = procs.kernel_calls_between(before, procs.kernel_calls({"child": child.pid}))["child"]
    finally:
        child.kill()
        child.wait()
    assert 51 <= counted.writes <= 55  # fifty bytes one by one, then its line
    assert counted.reads >= 1  # the line it was sent

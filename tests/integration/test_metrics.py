"""The api's Prometheus ``/metrics``: request rate and latency per route, time to first token of
streams, requests in flight, and every durable consumer's lag read from JetStream."""

import httpx
from prometheus_client.parser import text_string_to_metric_families


def scrape(stack) -> dict[tuple[str, tuple], float]:
    reply = httpx.get(f"{stack.api_url}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_first_tokens_and_consumer_lag(client, mock_llm, stack):
    before = scrape(stack)
    list(client.responses.create(model="m1", input="count me", stream=True))
    client.responses.create(model="m1", input="and me")
    after = scrape(stack)

    ok = {"method": "POST", "route": "/v1/responses", "status": "200"}
    requests = "gateway_http_requests_total"
    assert value(after, requests, **ok) - value(before, requests, **ok) == 2
    latency = "gateway_http_request_duration_seconds_count"
    assert value(after, latency, method="POST", route="/v1/responses") >= 2
    ttft = "gateway_time_to_first_token_seconds_count"
    assert value(after, ttft) - value(before, ttft) == 1  # only the stream
    assert value(after, "gateway_http_requests_in_flight") >= 1  # the scrape itself
    for durable in ("translator", "worker", "store"):
        assert ("gateway_consumer_pending", (("durable", durable),)) in after

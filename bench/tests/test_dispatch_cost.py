"""bench.dispatch_cost on a tiny count, through its entry point: each broker's handler acks every
message it is delivered, and the server's files are removed afterwards. No timing."""

import tempfile
from pathlib import Path

from bench import dispatch_cost


def test_every_broker_acks_every_message() -> None:
    before = set(Path(tempfile.gettempdir()).glob("dispatch-cost-*"))

    results = dispatch_cost.main(["--messages", "20", "--rounds", "1"])

    assert set(results) == set(dispatch_cost.BROKERS)
    assert all(len(values) == 1 for values in results.values())
    assert set(Path(tempfile.gettempdir()).glob("dispatch-cost-*")) == before

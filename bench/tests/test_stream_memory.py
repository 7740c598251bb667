"""bench.stream_memory on a tiny count, through its entry point: every piece is held and measured,
and the server's files are removed afterwards. No timing, no thresholds on the figures."""

import tempfile
from pathlib import Path

from bench import stream_memory


def test_every_piece_is_held_and_measured() -> None:
    before = set(Path(tempfile.gettempdir()).glob("stream-memory-*"))

    results = stream_memory.main(["--count", "20"])

    assert len(results) == 5
    held_in_python = [kb for name, kb in results.items() if "nats-server" not in name]
    assert all(kb > 0 for kb in held_in_python), results  # each piece allocated what it holds
    assert set(Path(tempfile.gettempdir()).glob("stream-memory-*")) == before

"""bench.backend_call on a tiny count, through its entry point: each transport streams its
calls to the end and holds its streams, and the mocks' folder is removed afterwards. No timing."""

import tempfile
from pathlib import Path

from bench import backend_call


def test_each_transport_is_measured_in_every_cell() -> None:
    before = set(Path(tempfile.gettempdir()).glob("backend-call-*"))

    results = backend_call.main(["--calls", "32", "--rounds", "1", "--held", "8"])

    assert set(results) == set(backend_call.TRANSPORTS)
    for cells in results.values():
        assert set(cells) == {*backend_call.COLUMNS, "held"}
        assert all(len(values) == 1 and values[0] > 0 for values in cells.values()), cells
    assert set(Path(tempfile.gettempdir()).glob("backend-call-*")) == before

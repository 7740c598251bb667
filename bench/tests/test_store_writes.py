"""bench.store_writes on tiny counts, through the command line: every pattern writes every response
into both kinds of stand-in (and one pattern with its two commands at once), and the servers' files
are removed afterwards. No timing."""

from pathlib import Path

import pytest

from bench import store_writes


def test_every_pattern_writes_every_response(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_writes.main(["--responses", "5", "--batch", "2", "--rounds", "1", "--dir", str(tmp_path)])

    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    written = {(r[0].strip().split()[0], r[1].strip(), r[2].strip()): int(r[3]) for r in rows[2:]}
    assert written == {
        **{
            (server, pattern, "in turn"): 5
            for server in ("replica", "standalone")
            for pattern in ("upserts", "guarded", "together")
        },
        ("standalone", "together", "at once"): 5,
    }
    assert list(tmp_path.iterdir()) == []

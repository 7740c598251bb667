"""bench.store_reads on tiny counts, through the command line: every shape finds every response it
reads, at each size, and the server's files are removed afterwards. No timing."""

from pathlib import Path

import pytest

from bench import store_reads


def test_every_shape_finds_what_it_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_reads.main(["--sizes", "3,8", "--reads", "4", "--dir", str(tmp_path)])

    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    found = {row[0].strip(): [cell.split("(")[1].rstrip(") ") for cell in row[1:]] for row in rows[2:]}
    assert found == {shape: ["4/4", "4/4"] for shape in store_reads.SHAPES}
    assert list(tmp_path.iterdir()) == []

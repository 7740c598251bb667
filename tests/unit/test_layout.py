"""The layout of the tests (issue 12): every module of ``services/`` and ``shared/`` has a test module
named after it (``test_<module>*.py`` anywhere under ``tests/``), and nothing under ``tests/unit`` reaches
a server: no import of the contract, integration or cluster harnesses (or the local stack), no server
fixture, no server binary named. Tests that need NATS or MongoDB live in ``tests/contract``."""

import ast
import fnmatch
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("services", "shared")
UNIT = Path(__file__).resolve().parent
# What starts or reaches servers: the other suites' harnesses and the local stack.
SERVER_HARNESSES = (
    *("contract", "integration", "cluster"),
    *("tests.contract", "tests.integration", "tests.cluster"),
    *("deploy.local.stack", "testcontainers"),
)
SERVER_FIXTURES = {"nats_url", "mongo_uri", "stack"}
SERVER_BINARIES = ("nats-server", "secantusd")


def _modules() -> list[Path]:
    return sorted(
        path
        for source in SOURCES
        for path in (ROOT / source).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )


def _unit_files() -> list[Path]:
    """Every file of tests/unit but this one, which names servers to look for them."""
    return sorted(path for path in UNIT.rglob("*.py") if path != Path(__file__).resolve())


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield ("." * node.level) + node.module


def _is_harness(module: str) -> bool:
    return any(module == harness or module.startswith(f"{harness}.") for harness in SERVER_HARNESSES)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the constants that are docstrings: prose may name a server; code may not."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _server_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    uses = [f"imports {name}" for name in _imported(tree) if _is_harness(name.lstrip("."))]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
            uses += [f"{node.name} takes the server fixture {a}" for a in sorted(arguments & SERVER_FIXTURES)]
    prose = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            uses += [f"names {binary}" for binary in SERVER_BINARIES if binary in node.value]
    return uses


def test_the_sources_and_the_unit_tests_are_found():
    assert len(_modules()) > 20
    assert UNIT / "shared" / "test_ids.py" in _unit_files()


def test_every_module_of_services_and_shared_has_its_test_module():
    tests = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    missing = [
        str(module.relative_to(ROOT))
        for module in _modules()
        if not fnmatch.filter(tests, f"test_{module.stem}*.py")
    ]
    assert missing == [], f"modules without a tests/**/test_<module>*.py: {missing}"


def test_no_unit_test_reaches_a_server():
    offences = {str(path.relative_to(ROOT)): uses for path in _unit_files() if (uses := _server_uses(path))}
    assert offences == {}


def test_the_server_check_catches_what_it_looks_for(tmp_path: Path):
    offender = tmp_path / "conftest.py"
    offender.write_text(
        '"""Mentions nats-server in prose, which is fine."""\n'
        "import subprocess\n"
        "from tests.contract.store.conftest import nats_url\n"
        "from ..contract import conftest\n"
        "import contractual\n"
        "def fixture():\n"
        '    subprocess.Popen(["secantusd-py", "--port", "1"])\n'
        "async def test_x(mongo_uri):\n"
        "    pass\n"
    )
    assert sorted(_server_uses(offender)) == [
        "imports ..contract",
        "imports tests.contract.store.conftest",
        "names secantusd",
        "test_x takes the server fixture mongo_uri",
    ]

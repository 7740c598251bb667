"""The docs name what is there: every file docs/architecture.md names in backticks exists (and every
``path/module.name`` it names is defined there), and README's Layout names every module of ``services/``
and ``shared/`` under its own folder, and nothing that is not."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_FOLDERS = ("services", "shared", "tests", "deploy", "bench", "docs")
# `services/api/watch.py`, `shared/domain/`, or a name in a module: `shared/domain/routing.plan`.
NAMED_PATH = re.compile(rf"`((?:{'|'.join(TOP_FOLDERS)})/[\w/.]*)`")
MODULE_NAME = re.compile(r"^([\w/]+)\.(\w+(?:\.\w+)*)$")
# A Layout entry: a folder at the line's start, then its text up to the next folder.
LAYOUT_FOLDER = re.compile(r"^([\w/]+/)\s", re.MULTILINE)


def _architecture() -> str:
    return (ROOT / "docs" / "architecture.md").read_text()


def _missing(text: str) -> list[str]:
    """The paths ``text`` names that are not there, nor defined in the module they name."""
    missing = []
    for named in sorted(set(NAMED_PATH.findall(text))):
        if (ROOT / named).exists():
            continue
        found = MODULE_NAME.match(named)
        if found is None or not (ROOT / f"{found.group(1)}.py").exists():
            missing.append(named)
            continue
        target: object = importlib.import_module(found.group(1).replace("/", "."))
        for attribute in found.group(2).split("."):
            if not hasattr(target, attribute):
                missing.append(named)
                break
            target = getattr(target, attribute)
    return missing


def _layout() -> dict[str, set[str]]:
    """README's Layout: each folder it lists -> the module files its entry names."""
    block = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    starts = list(LAYOUT_FOLDER.finditer(block))
    entries = {}
    for here, after in zip(starts, [*starts[1:], None], strict=True):
        text = block[here.end() : after.start() if after else len(block)]
        entries[here.group(1)] = set(re.findall(r"\b(\w+\.py)\b", text))
    return entries


def _source_folders() -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for top in ("services", "shared"):
        for path in (ROOT / top).rglob("*.py"):
            if path.name not in ("__init__.py", "__main__.py"):
                folders.setdefault(f"{path.parent.relative_to(ROOT)}/", set()).add(path.name)
    return folders


def test_every_path_the_architecture_names_exists():
    assert len(NAMED_PATH.findall(_architecture())) > 50
    assert _missing(_architecture()) == []


def test_a_named_path_that_is_not_there_is_caught():
    text = (
        "`shared/domain/routing.plan`, `shared/domain/` and `services/gone.py`, `shared/domain/routing.gone`"
    )
    assert _missing(text) == ["services/gone.py", "shared/domain/routing.gone"]


def test_the_readme_layout_names_every_module_under_its_folder():
    layout = _layout()
    assert {"shared/", "services/worker/", "tests/unit/"} <= set(layout)
    differences = {
        folder: {
            "unlisted": sorted(modules - layout.get(folder, set())),
            "gone": sorted(layout.get(folder, set()) - modules),
        }
        for folder, modules in _source_folders().items()
        if layout.get(folder) != modules
    }
    assert differences == {}

"""Earlier turns of a ``previous_response_id`` chain → Chat Completions messages.

Each stored turn contributes its input items, then its output items. Its ``instructions`` are never
carried over: OpenAI applies a response's instructions to that response only.
"""

from typing import Any

from shared.domain import items

Doc = dict[str, Any]


def chain_items(history: list[Doc]) -> list[items.Item]:
    """Every item of the chain, oldest first: each turn's input, then its output."""
    return [item for doc in history for item in (*doc.get("input_items", []), *_output(doc))]


def chain_index(history: list[Doc]) -> dict[str, items.Item]:
    """The chain's items by id, so an ``item_reference`` can name an earlier item."""
    return _indexed(chain_items(history))


def fold_history(
    history: list[Doc], *, replay_reasoning: bool = False, index: dict[str, items.Item] | None = None
) -> list[items.Message]:
    """Chat messages for the earlier turns, oldest first; ``index`` is their ``chain_index`` where
    the caller holds it already (a long chain's items are many)."""
    chained = chain_items(history)
    index = _indexed(chained) if index is None else index
    # A stored turn may reference an item from outside the chain (it was resolved when that turn ran);
    # an old turn must not fail every later one, so such a reference is left out.
    resolvable = [item for item in chained if item.get("type") != "item_reference" or item["id"] in index]
    return items.to_messages(resolvable, references=index, replay_reasoning=replay_reasoning)


def _indexed(chained: list[items.Item]) -> dict[str, items.Item]:
    return {item["id"]: item for item in chained if item.get("id") and item.get("type") != "item_reference"}


def _output(doc: Doc) -> list[items.Item]:
    response = doc.get("response") or {}
    return list(response.get("output") or [])

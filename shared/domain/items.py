"""Responses items (input items, and output items of earlier turns) → Chat Completions messages.

Items arrive as plain dicts: the stored chain holds dicts, and the current request's typed items are
dumped before they come here, so one path serves both.
"""

import base64
import binascii
import mimetypes
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain import compaction, mcp, tools
from shared.errors import InvalidRequest

Item = dict[str, Any]
Message = dict[str, Any]
# Opens a reasoning item's encrypted_content (shared/reasoning_blobs.py), or raises InvalidRequest.
OpenReasoning = Callable[[str], str]

# Mime types that are text even though they are not text/*: inlined, since every backend reads text
# while few accept a chat `file` part.
_TEXT_MIMES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/javascript",
        "application/x-javascript",
        "application/x-sh",
        "application/sql",
        "application/toml",
        "application/x-ndjson",
    }
)
_TEXT_SUFFIXES = (
    ".md",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".cfg",
    ".log",
    ".jsonl",
    ".ts",
    ".tsx",
    ".rs",
    ".go",
)


@dataclass
class Fold:
    """Messages being built, plus what waits for the next message. ``add`` continues it, so a chain
    held folded takes its next turn's items without folding the earlier ones again
    (``shared.domain.history``)."""

    references: Mapping[str, Item]
    replay_reasoning: bool
    open_reasoning: OpenReasoning | None = None
    messages: list[Message] = field(default_factory=list)
    # Reasoning text waiting for the assistant message it preceded.
    reasoning: list[str] = field(default_factory=list)
    # Non-text parts of tool outputs: a tool message holds only text, and nothing may sit between an
    # assistant's tool_calls and its tool messages, so they follow as one user message.
    tool_media: list[dict[str, Any]] = field(default_factory=list)
    # MCP approval requests among the items, by id.
    approval_requests: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        _add(self, item)

    def copy(self, references: Mapping[str, Item]) -> "Fold":
        """A fold that continues from where this one stands, with ``references``, leaving this one as
        it is: what follows changes only the last message (a call joins it, or reasoning), so that
        one is copied and the others are shared."""
        messages = list(self.messages)
        if messages:
            last = messages[-1] = dict(messages[-1])
            if "tool_calls" in last:
                last["tool_calls"] = list(last["tool_calls"])
        return Fold(
            references=references,
            replay_reasoning=self.replay_reasoning,
            open_reasoning=self.open_reasoning,
            messages=messages,
            reasoning=list(self.reasoning),
            tool_media=list(self.tool_media),
            approval_requests=dict(self.approval_requests),
        )

    def finished(self) -> list[Message]:
        """The messages, the tool outputs' media still waiting included; the fold is left as it is."""
        return [*self.messages, _media_message(self.tool_media)] if self.tool_media else list(self.messages)


def to_messages(
    items: Iterable[Item],
    *,
    references: Mapping[str, Item] | None = None,
    replay_reasoning: bool = False,
    open_reasoning: OpenReasoning | None = None,
) -> list[Message]:
    """Chat messages for ``items`` in order. ``references`` resolves ``item_reference`` items;
    ``open_reasoning`` restores the text of a reasoning item that holds only ``encrypted_content``."""
    fold = Fold(references=references or {}, replay_reasoning=replay_reasoning, open_reasoning=open_reasoning)
    for item in items:
        _add(fold, item)
    _flush_tool_media(fold)
    return fold.messages


def _add(fold: Fold, item: Item) -> None:
    kind = item.get("type", "message")
    if kind == "item_reference":
        _add(fold, _resolve(fold, item["id"]))
    elif kind == "message":
        _append(fold, _message(item))
    elif kind == "function_call":
        _add_call(fold, item)
    elif kind == "function_call_output":
        _add_call_output(fold, item)
    elif kind == "reasoning":
        # Opened even when not replayed: a blob that does not open is refused either way.
        texts = _reasoning_texts(item, fold.open_reasoning)
        if fold.replay_reasoning:
            fold.reasoning.extend(texts)
    elif kind == "compaction":
        _append(fold, compaction.summary_message(item))
    elif kind == "mcp_approval_request":
        # A stateless client hands the request back with its answer: the answer finds it here.
        fold.approval_requests[item["id"]] = item
    elif kind in ("mcp_call", "mcp_approval_response"):
        try:
            for exchanged in mcp.as_function_items(item, {**fold.references, **fold.approval_requests}):
                _add(fold, exchanged)
        except ValueError as error:
            raise InvalidRequest(str(error), param="input") from None
    # Anything else (hosted tool calls and their outputs, reasoning when not replayed) has no chat form.


def _resolve(fold: Fold, item_id: str) -> Item:
    found = fold.references.get(item_id)
    if found is None:
        raise InvalidRequest(f"Item with id {item_id!r} not found.", param="input")
    if found.get("type") == "item_reference":
        raise InvalidRequest(f"Item {item_id!r} is itself a reference.", param="input")
    return found


def _append(fold: Fold, message: Message) -> None:
    _flush_tool_media(fold)
    if message["role"] == "assistant":
        _attach_reasoning(fold, message)
    else:
        fold.reasoning.clear()  # reasoning belongs to the assistant turn right after it, if any
    fold.messages.append(message)


def _attach_reasoning(fold: Fold, message: Message) -> None:
    if fold.reasoning and "reasoning_content" not in message:
        # The name vLLM, SGLang and DeepSeek-style chat templates read back.
        message["reasoning_content"] = "\n\n".join(fold.reasoning)
    fold.reasoning.clear()


def _add_call(fold: Fold, item: Item) -> None:
    # A call of a namespace's function goes back under the name the backend offered it as.
    name = tools.namespaced_name(item["namespace"], item["name"]) if item.get("namespace") else item["name"]
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": name, "arguments": item.get("arguments", "")},
    }
    last = fold.messages[-1] if fold.messages else None
    # Calls of one turn (and the text before them) are one assistant message in Chat Completions;
    # chat templates mis-render consecutive assistant messages.
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        _attach_reasoning(fold, last)
    else:
        _append(fold, {"role": "assistant", "content": None, "tool_calls": [call]})


def _add_call_output(fold: Fold, item: Item) -> None:
    output = item.get("output", "")
    if isinstance(output, str):
        text = output
    else:
        parts = [_content_part(p) for p in output]
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        fold.tool_media.extend(p for p in parts if p["type"] != "text")
    fold.messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})


def _flush_tool_media(fold: Fold) -> None:
    if fold.tool_media:
        fold.messages.append(_media_message(fold.tool_media))
        fold.tool_media.clear()


def _media_message(tool_media: list[dict[str, Any]]) -> Message:
    return {"role": "user", "content": list(tool_media)}


def _reasoning_texts(item: Item, open_reasoning: OpenReasoning | None) -> list[str]:
    # The raw reasoning when the item holds it, else the text sealed in its encrypted_content (a
    # stateless client hands back only that and the summary); a summary is the next best thing.
    blob = item.get("encrypted_content")
    restored = open_reasoning(blob) if blob and open_reasoning is not None else None
    if not item.get("content") and restored:
        return [restored]
    parts = item.get("content") or item.get("summary") or []
    return [p["text"] for p in parts if p.get("text")]


def _message(item: Item) -> Message:
    role = item["role"]
    content = item.get("content", "")
    if role == "assistant":
        return {"role": "assistant", "content": content if isinstance(content, str) else _joined(content)}
    if role in ("system", "developer"):
        # "developer" is OpenAI-only; every chat backend knows "system", and the two mean the same here.
        return {"role": "system", "content": content if isinstance(content, str) else _joined(content)}
    if isinstance(content, str) or all(p.get("type") == "input_text" for p in content):
        # Plain text as a string: many chat templates (llama.cpp, older vLLM) accept no parts list.
        return {"role": "user", "content": content if isinstance(content, str) else _joined(content)}
    return {"role": "user", "content": _content_parts(content)}


def _joined(parts: list[dict[str, Any]]) -> str:
    texts = []
    for part in parts:
        text = part.get("text", part.get("refusal"))
        if text is None:
            raise InvalidRequest(f"A {part.get('type')} part is only allowed in user content.", param="input")
        texts.append(text)
    return "".join(texts)


def _content_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_content_part(p) for p in parts]


def _content_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        return _image_part(part)
    if kind == "input_file":
        return _file_part(part)
    raise InvalidRequest(f"Unsupported content part type {kind!r}.", param="input")


def _image_part(part: dict[str, Any]) -> dict[str, Any]:
    url = part.get("image_url")
    if not url:
        raise InvalidRequest("input_image needs image_url: this gateway has no Files API.", param="input")
    image: dict[str, Any] = {"url": url}
    detail = part.get("detail", "auto")
    if detail != "auto":
        # Chat Completions knows low/high/auto; "original" (full resolution) is closest to high.
        image["detail"] = "high" if detail == "original" else detail
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any]) -> dict[str, Any]:
    filename = part.get("filename")
    if part.get("file_data"):
        text = _inline_text(part["file_data"], filename)
        if text is not None:
            label = filename or "file"
            return {"type": "text", "text": f'<file name="{label}">\n{text}\n</file>'}
        return {"type": "file", "file": _without_none({"file_data": part["file_data"], "filename": filename})}
    if part.get("file_url"):
        # Chat Completions has no file URL field; backends that take one (OpenRouter, LiteLLM) read
        # it from file_data, and fetching it here would put I/O into a pure mapping.
        return {"type": "file", "file": _without_none({"file_data": part["file_url"], "filename": filename})}
    raise InvalidRequest(
        "input_file needs file_data or file_url: this gateway has no Files API.", param="input"
    )


def _inline_text(file_data: str, filename: str | None) -> str | None:
    """The file's text when it is a text file, else None."""
    mime, payload = _split_data_url(file_data)
    if mime is None and filename:
        mime = mimetypes.guess_type(filename, strict=False)[0]
    if not _is_text(mime, filename):
        return None
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _split_data_url(data: str) -> tuple[str | None, str]:
    if not data.startswith("data:") or "," not in data:
        return None, data
    header, payload = data[5:].split(",", 1)
    return (header.split(";", 1)[0] or None), payload


def _is_text(mime: str | None, filename: str | None) -> bool:
    if mime is not None and (
        mime.startswith("text/") or mime in _TEXT_MIMES or mime.endswith(("+json", "+xml"))
    ):
        return True
    return filename is not None and filename.lower().endswith(_TEXT_SUFFIXES)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}

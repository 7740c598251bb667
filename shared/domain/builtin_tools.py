"""Built-in tools the gateway runs itself (web search; MCP plugs in here too): which functions the
model is offered for them, what a call's output item and events look like, what goes back to the
model, and where the answer cites a source. Pure: the searching is the worker's
(``services/worker/builtin/``), the loop's steps are its ``toolsteps.py``.

A built-in tool the gateway cannot run is refused (400) unless the operator configured its type to be
dropped (``check``): a tool that is silently never run would let the model answer from memory while
the client believes it searched.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.errors import InvalidRequest
from shared.events import HostedTool
from shared.request_model import FunctionTool, Tool

WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
# Tools only a server-side runtime can serve. Client-run tools (function, custom, namespace, shells,
# apply_patch) are the client's to execute and are not judged here.
HOSTED_TYPES = WEB_SEARCH_TYPES | {
    "file_search",
    "code_interpreter",
    "computer_use_preview",
    "computer",
    "image_generation",
    "mcp",
}
WEB_SEARCH_FUNCTION = "web_search"
SOURCES_INCLUDE = "web_search_call.action.sources"

# search_context_size → how many results the model reads, and how much of each.
_RESULTS = {"low": 3, "medium": 5, "high": 10}
_SNIPPET_CHARS = {"low": 300, "medium": 600, "high": 1200}
_DEFAULT_CONTEXT = "medium"


def tool_type(tool: Tool) -> str:
    return str(tool.type)


def check(tools: Iterable[Tool], *, runnable: frozenset[str], dropped: frozenset[str]) -> list[str]:
    """The hosted tool types of a request that are dropped (the operator said so); raises the 400 for
    one that is neither run nor dropped, naming it and the setting that would change that."""
    tools = list(tools)
    names = {tool.name for tool in tools if isinstance(tool, FunctionTool)}
    skipped: list[str] = []
    for index, tool in enumerate(tools):
        kind = tool_type(tool)
        if kind not in HOSTED_TYPES:
            continue
        if kind in runnable:
            if kind in WEB_SEARCH_TYPES and WEB_SEARCH_FUNCTION in names:
                raise InvalidRequest(
                    f"A function tool named {WEB_SEARCH_FUNCTION!r} clashes with the {kind} tool.",
                    param=f"tools[{index}]",
                )
            continue
        if kind in dropped:
            skipped.append(kind)
            continue
        raise InvalidRequest(
            f"The tool type {kind!r} is not supported by this gateway: it cannot run it. Remove the tool, "
            f"or ask the operator to configure it ({_setting_for(kind)}tools.unsupported.{kind}: drop "
            "ignores it).",
            param=f"tools[{index}].type",
            code="unsupported_tool",
        )
    return skipped


def _setting_for(kind: str) -> str:
    """The setting that would run a tool type the gateway can run once configured, as a clause."""
    if kind in WEB_SEARCH_TYPES:
        return "tools.web_search runs it; "
    return "mcp.allowed_servers runs it; " if kind == "mcp" else ""


def offered(
    tools: Iterable[Tool], *, runnable: frozenset[str], include: Iterable[str] = (), tool_choice: Any = "auto"
) -> dict[str, HostedTool]:
    """The functions standing for the request's built-in tools that the gateway runs, by name (within
    an ``allowed_tools`` choice, only the types it lists). MCP's functions come from a listing, made in
    the loop's first step, so they are not here."""
    hosted: dict[str, HostedTool] = {}
    wanted = [item for item in include if item == SOURCES_INCLUDE]
    allowed = _allowed_types(tool_choice)
    for tool in tools:
        kind = tool_type(tool)
        if allowed is not None and kind not in allowed:
            continue
        if kind in WEB_SEARCH_TYPES and kind in runnable and WEB_SEARCH_FUNCTION not in hosted:
            entry = tool.model_dump(mode="json", exclude_none=True)
            hosted[WEB_SEARCH_FUNCTION] = HostedTool(type="web_search", tool=entry, include=wanted)
    return hosted


def _allowed_types(tool_choice: Any) -> set[str] | None:
    if getattr(tool_choice, "type", None) != "allowed_tools":
        return None
    return {entry.get("type") for entry in tool_choice.tools if isinstance(entry, dict)}


def chat_functions(hosted: Mapping[str, HostedTool]) -> list[dict[str, Any]]:
    """The chat ``tools`` entries for hosted functions (each type's builder in ``FUNCTIONS``)."""
    return [FUNCTIONS[entry.type](name, entry) for name, entry in hosted.items() if entry.type in FUNCTIONS]


def with_functions(chat: dict[str, Any], functions: list[dict[str, Any]]) -> dict[str, Any]:
    """``chat`` offering ``functions`` beside its own tools (a backend takes no tool_choice without
    tools, so a body that had none gets ``auto``)."""
    if not functions:
        return chat
    return {
        **chat,
        "tools": [*(chat.get("tools") or []), *functions],
        "tool_choice": chat.get("tool_choice", "auto"),
    }


def without_functions(chat: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``chat`` no longer offering ``names`` (the built-in call budget is spent): with no tool left,
    without the tool options either, which backends refuse on their own."""
    names = set(names)
    left = [t for t in chat.get("tools") or [] if (t.get("function") or {}).get("name") not in names]
    rest = {k: v for k, v in chat.items() if k not in ("tools", "tool_choice", "parallel_tool_calls")}
    return {**released(chat, names), "tools": left} if left else rest


def forces_hosted(tool_choice: Any, tools: Iterable[Tool], *, runnable: frozenset[str]) -> bool:
    """Whether ``tool_choice`` forces a built-in tool the gateway runs and the request offers
    (``{"type": "web_search_preview"}``): the first chat call then forces its function."""
    kind = getattr(tool_choice, "type", None)
    offered_kinds = {tool_type(tool) for tool in tools} & runnable
    return kind in WEB_SEARCH_TYPES and kind in runnable and bool(offered_kinds & WEB_SEARCH_TYPES)


def forcing(name: str) -> dict[str, Any]:
    """The chat ``tool_choice`` that makes the model call the function ``name``."""
    return {"type": "function", "function": {"name": name}}


def released(chat: dict[str, Any], hosted: Iterable[str]) -> dict[str, Any]:
    """``chat`` no longer forcing a hosted function: a forced search is the first call's only, or the
    model would search on every step."""
    choice = chat.get("tool_choice")
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") in set(hosted):
        return {**chat, "tool_choice": "auto"}
    return chat


def calls_left(max_tool_calls: int | None, made: int) -> int | None:
    """Built-in calls the response may still make (None: no limit)."""
    return None if max_tool_calls is None else max(max_tool_calls - made, 0)


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    """A tool's result, as the next chat call hands it to the model."""
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def assistant_message(text: str, calls: Iterable[Mapping[str, str]]) -> dict[str, Any]:
    """The model's turn that made ``calls`` (and said ``text`` before them), as chat history."""
    tool_calls = [
        {"id": c["call_id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls
    ]
    return {"role": "assistant", "content": text or None, "tool_calls": tool_calls}


def step_text(output: list[dict[str, Any]], first_index: int) -> str:
    """What the model wrote in this step's message items, for its turn in the history."""
    return "".join(
        part.get("text", "")
        for item in output[first_index:]
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


NOT_RUN = "Not run: this response may make no more built-in tool calls (max_tool_calls)."


# Web search ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """One search as a provider needs it: the model's query and the client's tool settings."""

    query: str
    count: int
    snippet_chars: int
    allowed_domains: tuple[str, ...] = ()
    country: str | None = None
    city: str | None = None
    region: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class SearchResult:
    url: str
    title: str
    snippet: str = ""


def web_search_function(name: str, hosted: HostedTool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": (
                "Search the web for current information. Results come numbered, each with its URL; "
                "cite a result you use as a Markdown link to its URL, e.g. [title](url)."
            ),
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to search the web for."}},
                "required": ["query"],
            },
        },
    }


def search_request(hosted: HostedTool, arguments: str) -> SearchRequest:
    """The search a call asks for; ``ValueError`` (its message for the model) when it names none."""
    try:
        query = json.loads(arguments or "{}").get("query")
    except (ValueError, AttributeError):
        query = None
    if not isinstance(query, str) or not query.strip():
        raise ValueError('The web_search arguments must be a JSON object with a non-empty "query".')
    tool = hosted.tool
    size = (
        tool.get("search_context_size") if tool.get("search_context_size") in _RESULTS else _DEFAULT_CONTEXT
    )
    location = tool.get("user_location") if isinstance(tool.get("user_location"), dict) else {}
    domains = ((tool.get("filters") or {}) if isinstance(tool.get("filters"), dict) else {}).get(
        "allowed_domains"
    )
    return SearchRequest(
        query=query.strip(),
        count=_RESULTS[size],
        snippet_chars=_SNIPPET_CHARS[size],
        allowed_domains=tuple(_domain(d) for d in domains or [] if isinstance(d, str) and _domain(d)),
        **{key: _text_or_none(location.get(key)) for key in ("country", "city", "region", "timezone")},
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _domain(text: str) -> str:
    """A domain as a filter names it: ``https://www.Example.com/x`` → ``www.example.com``."""
    text = text.strip().lower()
    host = urlsplit(text if "//" in text else f"//{text}").hostname or ""
    return host.rstrip(".")


def allowed(url: str, domains: tuple[str, ...]) -> bool:
    """Whether ``url`` lies in one of ``domains`` or their subdomains (any, when there are none)."""
    if not domains:
        return True
    host = _domain(url)
    return any(host == d or host.endswith(f".{d}") for d in domains)


def kept(results: Iterable[SearchResult], request: SearchRequest) -> list[SearchResult]:
    """The results the model may read: in the allowed domains (a provider's own filter is trusted no
    further than this), one per URL, at most ``count``."""
    seen: set[str] = set()
    out: list[SearchResult] = []
    for result in results:
        if not result.url.startswith(("http://", "https://")) or result.url in seen:
            continue
        if allowed(result.url, request.allowed_domains):
            seen.add(result.url)
            out.append(result)
    return out[: request.count]


def results_text(request: SearchRequest, results: list[SearchResult]) -> str:
    """The tool message the model reads: the numbered results with their URLs."""
    if not results:
        return f'No results for "{request.query}".'
    lines = [f'Web results for "{request.query}":']
    for n, result in enumerate(results, 1):
        snippet = result.snippet[: request.snippet_chars]
        lines.append(f"[{n}] {result.title}\nURL: {result.url}\n{snippet}".rstrip())
    return "\n\n".join(lines)


def web_search_item(query: str) -> dict[str, Any]:
    return {
        "id": "",
        "type": "web_search_call",
        "status": "in_progress",
        "action": {"type": "search", "query": query},
    }


def search_action(hosted: HostedTool, query: str, results: list[SearchResult]) -> dict[str, Any]:
    """The finished item's ``action``: its sources only when the client asked for them (``include``)."""
    action: dict[str, Any] = {"type": "search", "query": query}
    if SOURCES_INCLUDE in hosted.include:
        action["sources"] = [{"type": "url", "url": r.url} for r in results]
    return action


def sources(results: list[SearchResult]) -> list[dict[str, str]]:
    return [{"url": r.url, "title": r.title} for r in results]


# Citations -----------------------------------------------------------------------------------------

_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\((https?://[^\s)]+)\)")
_BARE_URL = re.compile(r"https?://[^\s)\]>\"'<]+")
_TRAILING = ".,;:!?"


def citer(found: list[dict[str, str]]) -> Callable[[str], list[dict[str, Any]]] | None:
    """What marks up the answer's text: a ``url_citation`` for each Markdown link or bare URL that
    names a page the searches found (None when they found none)."""
    if not found:
        return None
    titles = {_normal(s["url"]): s.get("title") or s["url"] for s in found}

    def annotate(text: str) -> list[dict[str, Any]]:
        spans: list[tuple[int, int, str]] = []
        for match in _MARKDOWN_LINK.finditer(text):
            spans.append((match.start(), match.end(), match.group(2)))
        for match in _BARE_URL.finditer(text):
            url = match.group(0).rstrip(_TRAILING)
            start = match.start()
            if not any(s <= start < e for s, e, _ in spans):
                spans.append((start, start + len(url), url))
        return [
            {
                "type": "url_citation",
                "start_index": s,
                "end_index": e,
                "url": url,
                "title": titles[_normal(url)],
            }
            for s, e, url in sorted(spans)
            if _normal(url) in titles
        ]

    return annotate


def _normal(url: str) -> str:
    return url.rstrip(_TRAILING).rstrip("/")


# The chat function for each built-in tool type the gateway runs (MCP adds its own).
FUNCTIONS: dict[str, Callable[[str, HostedTool], dict[str, Any]]] = {"web_search": web_search_function}

"""The operators' dead-letter CLI (shared/deadletter_cli.py) without a server: its commands, a letter's
one-line summary, and ``show`` decoding an event or falling back to the raw body of one that is none.
Listing, redriving and purging against a real stream are in tests/contract/shared/test_deadletter.py."""

import json

import pytest

from shared import deadletter, deadletter_cli
from shared.events import ResponseDeleted


class NoServer:
    """A JetStream context a small letter's ``show`` may not use."""


def _letter(data: bytes, **headers: str) -> deadletter.Letter:
    return deadletter.Letter(
        sequence=7,
        consumer="translator",
        original_subject="resp.resp_1.requested",
        original_sequence=42,
        deliveries=5,
        reason="handler failed: boom",
        data=data,
        headers={deadletter.REASON: "handler failed: boom", **headers},
    )


def test_the_summary_is_one_line_with_where_it_came_from_and_why():
    line = deadletter_cli.summary(_letter(b"{}"))
    assert line.split("\t") == [
        "7",
        "translator",
        "resp.resp_1.requested (seq 42, 5 deliveries)",
        "handler failed: boom",
    ]


async def test_show_prints_the_headers_sorted_then_the_event():
    event = ResponseDeleted(event_id="evt_d", response_id="resp_1", tenant="t")
    text = await deadletter_cli.show(NoServer(), _letter(event.model_dump_json().encode(), Zeta="z"))
    head, _, body = text.partition("\n\n")
    assert head.splitlines() == [f"{deadletter.REASON}: handler failed: boom", "Zeta: z"]
    assert json.loads(body) == event.model_dump(mode="json")


async def test_show_of_a_body_that_is_no_event_says_so_and_shows_it_raw():
    text = await deadletter_cli.show(NoServer(), _letter(b"not json \xff"))
    body = text.partition("\n\n")[2]
    assert body.startswith("(not an event: ")
    assert body.endswith("not json \ufffd")


@pytest.mark.parametrize(
    ("argv", "command", "fields"),
    [
        (["list"], "list", {"consumer": None, "limit": 100}),
        (["list", "--consumer", "worker", "--limit", "3"], "list", {"consumer": "worker", "limit": 3}),
        (["show", "12"], "show", {"seq": 12}),
        (["redrive", "12"], "redrive", {"seq": 12}),
        (["purge", "12"], "purge", {"seq": 12}),
    ],
)
def test_the_commands_parse_as_documented(argv, command, fields):
    args = deadletter_cli.parser().parse_args(argv)
    assert args.command == command
    assert {name: getattr(args, name) for name in fields} == fields


@pytest.mark.parametrize("argv", [[], ["show"], ["purge", "last"], ["drop", "1"]])
def test_a_command_without_what_it_needs_is_refused(argv):
    with pytest.raises(SystemExit) as exit:
        deadletter_cli.parser().parse_args(argv)
    assert exit.value.code == 2

"""The dead-letter stream (shared/deadletter.py) on a real JetStream server: a letter keeps the original's
body and headers and says where it came from and why; recording one failure twice keeps one letter;
letters are listed per consumer, redriven onto their original subject and purged; and a message whose
deliveries all timed out is lettered by the watcher. The operators' CLI is run against it too."""

import argparse
import uuid

import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared import deadletter, deadletter_cli, eventlog, subjects
from tests.exhausted_deliveries import exhaust_deliveries

# A harness bound on waiting for the server; a run that needs it has already failed.
WAIT_S = 30.0


@pytest.fixture
async def log(js: JetStreamContext) -> JetStreamContext:
    await eventlog.ensure_stream(js)
    await deadletter.ensure_stream(js, replicas=1)
    return js


def _consumer() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


def _original(sequence: int, **headers: str) -> deadletter.Original:
    return deadletter.Original(
        subject=f"resp.resp_{sequence}.requested",
        sequence=sequence,
        data=b'{"an": "event"}',
        headers={"Nats-Msg-Id": f"evt_{sequence}", "X-Trace": "t-1", **headers},
        deliveries=6,
    )


async def _letters(js: JetStreamContext, consumer: str | None = None) -> list[deadletter.Letter]:
    return [letter async for letter in deadletter.letters(js, consumer=consumer)]


async def test_a_letter_keeps_the_original_and_says_where_it_came_from_and_why(log: JetStreamContext):
    consumer = _consumer()
    await deadletter.keep(log, _original(11), consumer=consumer, reason="handler failed:\n  bad input")
    (letter,) = await _letters(log, consumer)
    assert (letter.consumer, letter.original_subject) == (consumer, "resp.resp_11.requested")
    assert (letter.original_sequence, letter.deliveries) == (11, 6)
    assert letter.reason == "handler failed: bad input"  # one header line
    assert letter.data == b'{"an": "event"}'
    assert letter.headers[deadletter.ORIGINAL_MSG_ID] == "evt_11"
    assert letter.original_headers() == {"X-Trace": "t-1"}
    raw = await log.get_msg(deadletter.STREAM, letter.sequence)
    assert raw.subject == deadletter.subject(consumer, "resp.resp_11.requested")


async def test_the_same_failure_recorded_twice_is_one_letter(log: JetStreamContext):
    consumer = _consumer()
    for reason in ("first try", "second try"):
        await deadletter.keep(log, _original(12), consumer=consumer, reason=reason)
    assert [letter.reason for letter in await _letters(log, consumer)] == ["first try"]


async def test_letters_are_listed_oldest_first_and_per_consumer(log: JetStreamContext):
    one, other = _consumer(), _consumer()
    for sequence in (21, 22, 23):
        await deadletter.keep(log, _original(sequence), consumer=one, reason="r")
    await deadletter.keep(log, _original(24), consumer=other, reason="r")
    assert [letter.original_sequence for letter in await _letters(log, one)] == [21, 22, 23]
    assert [letter.original_sequence for letter in await _letters(log, other)] == [24]
    everything = [letter.original_sequence for letter in await _letters(log)]
    assert [s for s in everything if s in (21, 22, 23, 24)] == [21, 22, 23, 24]


async def test_a_redriven_letter_is_logged_again_with_its_headers_and_leaves_the_dead_letters(
    log: JetStreamContext,
):
    consumer = _consumer()
    await deadletter.keep(log, _original(31), consumer=consumer, reason="r")
    (letter,) = await _letters(log, consumer)

    sequence = await deadletter.redrive(log, letter.sequence)

    again = await log.get_msg(subjects.STREAM, sequence)
    assert again.subject == "resp.resp_31.requested"
    assert again.data == b'{"an": "event"}'
    assert again.headers["X-Trace"] == "t-1"
    assert again.headers["Nats-Msg-Id"] != "evt_31"  # not dropped as the original's duplicate
    assert deadletter.REASON not in again.headers
    assert await _letters(log, consumer) == []
    with pytest.raises(NotFoundError):
        await deadletter.letter(log, letter.sequence)


async def test_a_message_that_is_no_letter_is_not_redriven(log: JetStreamContext):
    ack = await log.publish("dlq.stray", b"{}", stream=deadletter.STREAM)
    with pytest.raises(ValueError, match="not a dead letter"):
        await deadletter.redrive(log, ack.seq)


async def test_a_purged_letter_is_gone(log: JetStreamContext):
    consumer = _consumer()
    await deadletter.keep(log, _original(41), consumer=consumer, reason="r")
    await deadletter.keep(log, _original(42), consumer=consumer, reason="r")
    first, second = await _letters(log, consumer)
    await deadletter.purge(log, first.sequence)
    assert [letter.sequence for letter in await _letters(log, consumer)] == [second.sequence]


async def test_ensuring_the_stream_again_keeps_its_letters(log: JetStreamContext):
    consumer = _consumer()
    await deadletter.keep(log, _original(51), consumer=consumer, reason="r")
    await deadletter.ensure_stream(log, replicas=1)
    info = await log.stream_info(deadletter.STREAM)
    assert info.config.max_msgs == deadletter.MAX_LETTERS
    assert len(await _letters(log, consumer)) == 1


async def test_a_message_whose_deliveries_all_timed_out_is_lettered_and_handed_on(
    log: JetStreamContext, nats_url: str
):
    consumer = _consumer()
    subject = f"resp.{consumer}.probe"  # read by this test's consumer only
    exhausted = await exhaust_deliveries(
        nats_url, log, consumer=consumer, subject=subject, data=b'{"probe": 1}', wait_s=WAIT_S
    )
    letter = exhausted.letter
    assert (letter.original_subject, letter.original_sequence) == (subject, exhausted.sent.seq)
    assert letter.deliveries == 2 and "timed out" in letter.reason
    assert exhausted.handed_on == [(b'{"probe": 1}', letter.reason)]


async def test_the_cli_lists_up_to_its_limit(log: JetStreamContext, capsys: pytest.CaptureFixture[str]):
    consumer = _consumer()
    for sequence in (61, 62, 63):
        await deadletter.keep(log, _original(sequence), consumer=consumer, reason="r")

    await deadletter_cli.run(log, argparse.Namespace(command="list", consumer=consumer, limit=2))

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert [line.split("\t")[2].split(" ")[0] for line in lines[:2]] == [
        "resp.resp_61.requested",
        "resp.resp_62.requested",
    ]
    assert lines[2] == "... and more (--limit 2)"


async def test_the_cli_purges_and_redrives_by_sequence(
    log: JetStreamContext, capsys: pytest.CaptureFixture[str]
):
    consumer = _consumer()
    await deadletter.keep(log, _original(71), consumer=consumer, reason="r")
    await deadletter.keep(log, _original(72), consumer=consumer, reason="r")
    purged, redriven = await _letters(log, consumer)

    await deadletter_cli.run(log, deadletter_cli.parser().parse_args(["purge", str(purged.sequence)]))
    await deadletter_cli.run(log, deadletter_cli.parser().parse_args(["redrive", str(redriven.sequence)]))

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"purged {purged.sequence}"
    new_sequence = int(out[1].rsplit(" ", 1)[1])
    assert (await log.get_msg(subjects.STREAM, new_sequence)).subject == "resp.resp_72.requested"
    assert await _letters(log, consumer) == []

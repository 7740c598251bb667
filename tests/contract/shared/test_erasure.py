"""Erasure's wait for the projection (``shared/erasure.projected_past``) on a real JetStream: the store's
durable is past a sequence once it has settled every message up to it, or has nothing left to settle;
with no store consuming the log there is nothing to wait for."""

from nats.js import JetStreamContext

from shared import eventlog, subjects
from shared.erasure import projected_past


async def test_the_projection_is_past_a_sequence_once_it_settled_every_message_up_to_it(js: JetStreamContext):
    await eventlog.ensure_stream(js)
    assert await projected_past(js, 1, timeout_s=0)  # no store has consumed the log

    # The store's durable, held as the store holds it: delivered, not yet acked.
    store = await js.pull_subscribe("resp.>", durable=subjects.PROJECTION_DURABLE, stream=subjects.STREAM)
    acks = [
        await js.publish(f"resp.resp_erase{n}.requested", b"{}", stream=subjects.STREAM) for n in range(2)
    ]
    last = acks[-1].seq
    taken = await store.fetch(2, timeout=5)
    assert not await projected_past(js, last, timeout_s=0.2)

    await taken[0].ack_sync()
    assert not await projected_past(js, last, timeout_s=0.2)  # one settled, the last one not

    await taken[1].ack_sync()
    assert await projected_past(js, last, timeout_s=5)

"""The store's durable consumer: one push consumer with a deliver group, shared by every replica.

A push consumer hands each event over the moment it is stored. The pull consumer it replaces fetched
in batches of 32 and, once the first message of a batch had come, waited out the rest of the fetch's
5 s for the other 31: after any idle spell a response was answered only when that fetch expired
(about 4 s late). Older data directories hold that pull durable under the same name; a pull consumer
cannot become a push one, so ``ensure`` replaces it, starting the new one where the old one's
acknowledged floor was: nothing is skipped, and what the old one had acked past its floor is only
projected again, which the idempotent writes make harmless.

The deliver subject is fixed rather than a random inbox, so that if two replicas replace the old
durable at once and one deletes the other's fresh consumer, the replacement delivers to the same
subject and queue group: every replica keeps receiving.
"""

import contextlib
import logging

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError

from shared import consumers, subjects, topology

log = logging.getLogger(__name__)

DURABLE = subjects.PROJECTION_DURABLE
FILTER_SUBJECTS = topology.durable_filters(DURABLE)
# Outside the log's `resp.>`, which a deliver subject must not overlap.
DELIVER_SUBJECT = "deliver.store"


def config(*, max_deliver: int, max_ack_pending: int) -> ConsumerConfig:
    """What the durable must be; ``max_ack_pending`` bounds the events in flight over all replicas."""
    return ConsumerConfig(
        durable_name=DURABLE,
        deliver_subject=DELIVER_SUBJECT,
        deliver_group=DURABLE,
        filter_subjects=FILTER_SUBJECTS,
        ack_policy=AckPolicy.EXPLICIT,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
    )


async def ensure(js: JetStreamContext, wanted: ConsumerConfig) -> None:
    """Create the durable, replace a pull durable an older version made, or bring an existing push
    one up to ``wanted``'s limits. Run before the subscriber binds (it binds to what exists)."""
    try:
        current = await js.consumer_info(subjects.STREAM, DURABLE)
    except NotFoundError:
        await _create(js, wanted)
        return
    if current.config.deliver_subject:
        await consumers.update_durable(js, DURABLE, wanted)
        return
    start = (current.ack_floor.stream_seq if current.ack_floor else 0) + 1
    log.info("replacing the pull durable %s by a push one, from stream sequence %d", DURABLE, start)
    with contextlib.suppress(NotFoundError):  # another replica is replacing it too
        await js.delete_consumer(subjects.STREAM, DURABLE)
    await _create(js, wanted.evolve(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start))


async def _create(js: JetStreamContext, wanted: ConsumerConfig) -> None:
    try:
        await js.add_consumer(subjects.STREAM, wanted)
    except BadRequestError:
        # Another replica created it first, with another start: bind to theirs. Anything else is a
        # configuration NATS refuses, which must stop the store rather than leave it unsubscribed.
        await js.consumer_info(subjects.STREAM, DURABLE)

"""Composition root of the translator: settings, the projection it reads chains from, the broker."""

import functools

from faststream import FastStream

from services.translator import handlers
from shared import bus, consumers, deadletter, logs
from shared import mongo as mongo_client
from shared.config import Settings, master_keys
from shared.readmodel import fresh


async def main() -> None:
    settings = Settings.from_env()
    logs.configure("translator", settings.log_level)
    master = master_keys()  # before any connection: without it (or a config) the service must not start
    config = settings.gateway_config()
    # Every chain lookup bounded well inside the consumer's ack wait: an unreachable MongoDB is a
    # transient failure, redelivered later, not a handler holding its message until JetStream gives up.
    mongo = mongo_client.client(settings.mongo_uri)
    broker = bus.new_broker(settings, "translator")
    js = await bus.connect(broker, settings=settings, master=master)
    in_hand = handlers.register(
        broker,
        js=js,
        db=mongo[settings.mongo_db],
        config=config,
        master=master,
        concurrency=settings.translator_concurrency,
        log_reads=fresh.LogReads.of(js, settings),
    )
    await consumers.update_durable(js, handlers.DURABLE, handlers.consumer_config())
    await deadletter.watch_exhausted(
        broker.connection,
        js,
        consumer=handlers.DURABLE,
        on_exhausted=functools.partial(handlers.on_exhausted, js),
    )
    try:
        await FastStream(broker, on_shutdown=[in_hand.drain]).run()
    finally:
        await mongo.close()

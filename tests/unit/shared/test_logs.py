import logging

from shared import logs


def test_debug_logging_leaves_pymongo_and_http_clients_at_warning():
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    # pytest's handlers on the root logger make basicConfig a no-op: set the level it would.
    root.setLevel(logging.DEBUG)
    try:
        logs.configure("test", "DEBUG")
        assert logging.getLogger("services.test").isEnabledFor(logging.DEBUG)
        for name in ("pymongo.command", "pymongo.connection", "pymongo.serverSelection", "httpx", "httpcore"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)

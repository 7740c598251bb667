"""Process logging, the same for every service: one line per record, tagged with the service."""

import logging

# Loggers kept at WARNING whatever LOG_LEVEL says. pymongo's DEBUG records carry whole commands and
# replies: stored inputs and outputs, and the key hashes a managed key is looked up by. httpx logs every
# backend request at INFO: noise on the hot path, and URLs are for debugging.
QUIET_LOGGERS = ("pymongo", "httpx", "httpcore")


def configure(service: str, level: str) -> None:
    """``level``: the process's ``LOG_LEVEL`` setting (shared/config.py)."""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s {service} %(levelname)s %(name)s %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

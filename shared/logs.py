"""Process logging, the same for every service: one line per record, tagged with the service."""

import logging
import os


def configure(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {service} %(levelname)s %(name)s %(message)s",
    )
    # httpx logs every backend request at INFO: noise on the hot path, and URLs are for debugging.
    logging.getLogger("httpx").setLevel(logging.WARNING)

import os
import sys

import uvicorn

from services.api.main import create_app
from shared import logs
from shared.config import ConfigError, Settings

logs.configure("api")

try:
    app = create_app(Settings.from_env())
except ConfigError as error:
    # One line an operator can act on, instead of a traceback; non-zero, so nothing keeps it running.
    sys.exit(f"api: cannot start: {error}")

uvicorn.run(
    app,
    host=os.environ.get("API_HOST", "127.0.0.1"),
    port=int(os.environ.get("API_PORT", "8080")),
    log_level=os.environ.get("API_LOG_LEVEL", "warning"),
)

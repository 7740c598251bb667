import sys

import uvicorn

from services.api.main import create_app
from shared import logs
from shared.config import ConfigError, Settings

try:
    settings = Settings.from_env()
    logs.configure("api", settings.log_level)
    app = create_app(settings)
except ConfigError as error:
    # One line an operator can act on, instead of a traceback; non-zero, so nothing keeps it running.
    sys.exit(f"api: cannot start: {error}")

uvicorn.run(
    app,
    host=settings.api_host,
    port=settings.api_port,
    log_level=settings.api_log_level,
)

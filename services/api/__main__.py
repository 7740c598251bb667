import os

import uvicorn

from services.api.main import create_app
from shared import logs
from shared.config import Settings

logs.configure("api")

uvicorn.run(
    create_app(Settings.from_env()),
    host=os.environ.get("API_HOST", "127.0.0.1"),
    port=int(os.environ.get("API_PORT", "8080")),
    log_level=os.environ.get("API_LOG_LEVEL", "warning"),
)

from services.worker.main import main
from shared import startup

startup.run("worker", main)

from services.store.main import main
from shared import startup

startup.run("store", main)

from services.translator.main import main
from shared import startup

startup.run("translator", main)

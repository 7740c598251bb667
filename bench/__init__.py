"""The benchmark harness: ``python -m bench`` (``just bench``); see ``bench/README.md``."""

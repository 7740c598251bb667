"""The gateway's decisions, as pure functions: the Responses <-> Chat Completions mapping and the
response builder, the stream's translation, token estimates and truncation, compaction, routing, the
projection's fold and usage. No I/O here (no asyncio, nats, pymongo, httpx: an import-linter contract
in pyproject.toml holds it), so every service can run the same code and every decision is tested
without servers."""

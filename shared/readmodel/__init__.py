"""The read model in MongoDB: the ``responses`` and ``usage`` collections, their indexes, the writes
the store applies and the queries the api and the translator read through. Named for what it is rather
than ``infra``: it is the one adapter more than one service talks to, beside the flat adapters in
``shared/`` (bus, event log, chat client). The decisions it applies live in ``shared.domain``."""

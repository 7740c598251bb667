"""The single-machine stack: embedded nats-server and Mongo-wire store, the four services, a mock LLM."""

"""What two services or more need: event schemas, subjects, config, ids, errors."""

"""What reads and serves pushed models: the one model loader, predictions (and later the endpoint)."""

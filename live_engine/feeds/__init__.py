"""Market data into the engine: the feed protocol, the replay, simulator and ZMQ ingress feeds, the wire format."""

"""The engine process: start-up, loop, supervisor, control socket, broadcast, metrics, alerts, recording, hot-swap."""

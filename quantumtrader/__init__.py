"""QuantumTrader: the platform package (configuration, logging, errors, clock, CLI, demo)."""

__version__ = "0.1.0"

"""The exception hierarchy: each class tells the caller what to do next.

Modelled on freqtrade's ``exceptions.py``: a caller catches by *intent*, not by library.

- :class:`TransientError` — retry later (network blip, locked database).
- :class:`InputError` — fix the input (bad file, bad rows, wrong columns); never retried.
- :class:`ConfigError` — fix the configuration; raised at start-up with the field's path.
- :class:`HaltTrading` — stop opening positions; the process keeps running and alerts.
- :class:`FatalError` — stop the process (state would be unsafe to continue).
"""

from __future__ import annotations


class QTError(Exception):
    """Base of every QuantumTrader error."""


class TransientError(QTError):
    """A temporary failure: the operation may succeed if retried."""


class InputError(QTError):
    """The input is wrong: fix it and run again. Never retried."""


class SchemaError(InputError):
    """Columns or types do not match the expected schema."""


class DataValidationError(InputError):
    """Rows failed validation rules beyond the allowed share."""


class ConfigError(QTError):
    """A configuration value is invalid; the message names the field's path."""


class HaltTrading(QTError):
    """Trading must stop opening positions (risk breach, bad feed, degraded core)."""


class FatalError(QTError):
    """The process must stop: continuing would be unsafe."""

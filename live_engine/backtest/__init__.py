"""Replay driver, backtest runner, report, performance metrics and the vectorised sweep."""

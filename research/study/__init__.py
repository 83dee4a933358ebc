"""Parameter studies (``qtml study``): candidates screened by the vectorised sweep, the best confirmed
walk-forward on the replay, judged by the deflated Sharpe and the probability of backtest overfitting.
docs/studies.md."""

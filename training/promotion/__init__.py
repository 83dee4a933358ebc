"""The promotion gate: evidence from the replay, a policy in config, one alias move to ``champion``.

- :mod:`training.promotion.config`: the ``promotion`` section (thresholds and their reasons).
- :mod:`training.promotion.policy`: pure checks over plain values -> a :class:`~training.promotion.policy.Verdict`.
- :mod:`training.promotion.evidence`: the shell that replays challenger and champion on the same
  out-of-sample sessions through :func:`live_engine.backtest.runner.run_backtest` and reads lineage.
- :mod:`training.promotion.ledger`: the append-only ``promotions`` table.
- :mod:`training.promotion.registry`: aliases and version tags in the MLflow registry.
- :mod:`training.promotion.gate`: evaluate, promote and roll back under one cross-process lock.
- :mod:`training.promotion.cli`: ``qtml model list | show | evaluate | promote | rollback``.
"""

"""Evaluate, promote and roll back: the gate's shell, one locked critical section per registry model.

A promotion, in order (each name is a step the test seam can stop at, see :data:`PAUSE_ENV`):

1. ``locked`` — take the promotion lock (:func:`quantumtrader.db.exclusive_lock`; a second promotion
   waits here), create the table if needed, reconcile the table with the registry;
2. ``evaluated`` — gather the evidence and decide (:mod:`training.promotion.evidence`, ``.policy``);
3. ``recorded`` — append the decision with every check to ``promotions``;
4. ``alias_moved`` — when promoted, move ``champion`` to the challenger: one registry call;
5. ``tagged`` — tag the new champion with the version it replaced and the row that promoted it;

then write ``verdict.json`` into the challenger's replay folder. A kill before step 4 leaves the
previous champion; from step 4 on, the new one; never none and never two. A row whose move did not
happen is answered by a ``reconcile`` row at the next locked call (:func:`reconcile`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumtrader import testhooks
from quantumtrader.db import create_engine, exclusive_lock
from quantumtrader.errors import InputError
from quantumtrader.logging import get_logger
from training.promotion import ledger, registry
from training.promotion.policy import PROMOTED, REFUSED, Check, Verdict, as_dry_run, decide

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from quantumtrader.config import Settings
    from training.promotion.evidence import Gathered

log = get_logger("training.promotion.gate")

# Test seam of the kill tests (tests/reliability/test_promotion_crash.py): "<step>" or "<step>:<seconds>".
# At that step the process prints "promotion paused at <step>" on stderr and sleeps (600 s by default).
PAUSE_ENV = "QT_PROMOTION_TEST_PAUSE"
STEPS = ("locked", "evaluated", "recorded", "alias_moved", "tagged")
VERDICT_FILE = "verdict.json"


def pause_point(point: str) -> None:
    """Sleep at ``point`` when :data:`PAUSE_ENV` names it (``quantumtrader.testhooks``)."""
    testhooks.pause_point(PAUSE_ENV, point, "promotion")


@dataclass(frozen=True)
class Outcome:
    """What one gate call did."""

    action: str
    verdict: Verdict
    row_id: int | None
    version: str | None
    champion_before: str | None
    champion_after: str | None
    forced: bool = False
    sessions: tuple[str, ...] = ()
    run_dirs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "decision": self.verdict.decision, "row_id": self.row_id,
                "version": self.version, "champion_before": self.champion_before,
                "champion_after": self.champion_after, "forced": self.forced, "sessions": list(self.sessions),
                "run_dirs": self.run_dirs, "verdict": self.verdict.as_dict(), "reasons": self.verdict.reasons}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        """The inverse of :meth:`as_dict` (a flow's JSON result back into an outcome)."""
        v = d["verdict"]
        verdict = Verdict(v["decision"], v["challenger"], v["champion"], tuple(Check(**c) for c in v["checks"]))
        return cls(d["action"], verdict, d["row_id"], d["version"], d["champion_before"], d["champion_after"],
                   d["forced"], tuple(d["sessions"]), dict(d["run_dirs"]))


def _engine(settings: Settings) -> Any:
    assert settings.stores.promotions_db_url is not None
    return create_engine(settings.stores.promotions_db_url)


def uris(settings: Settings) -> tuple[str, str]:
    """The default challenger and champion URIs: ``models:/<name>@<training.alias>`` and ``@<champion>``."""
    name = settings.training.registered_model_name
    return f"models:/{name}@{settings.training.alias}", f"models:/{name}@{settings.promotion.champion_alias}"


@contextmanager
def _locked(settings: Settings, engine: Any, console: Console | None) -> Iterator[None]:
    name = settings.training.registered_model_name

    def waiting(holder: str) -> None:
        log.info("waiting for the promotion lock", data={"model": name, "holder": holder})
        if console is not None:
            console.print(f"another promotion of {name} is running ({holder}): waiting for it to finish…")

    with exclusive_lock(engine, f"promotion-{name}", timeout_s=settings.promotion.lock_timeout_s, on_wait=waiting):
        ledger.ensure(engine)
        reconcile(settings, engine)
        pause_point("locked")
        yield


def reconcile(settings: Settings, engine: Any) -> int | None:
    """Make the table agree with the registry (call under the lock); returns the row appended, if any.

    The registry is the truth about who is champion. When the last row that set the champion names
    another version (a promotion killed between its row and its alias move), a ``reconcile`` row says
    what the alias really is. A champion whose promotion row exists but whose tags are missing (killed
    between the move and the tags) gets them.
    """
    name, alias = settings.training.registered_model_name, settings.promotion.champion_alias
    c = registry.client(settings.mlflow_tracking_uri)
    actual = registry.alias_version(c, name, alias)
    last = ledger.last_champion_row(engine, name)
    recorded = last["champion_after"] if last else None
    if last is not None and recorded == actual and actual is not None:
        tags = registry.version_tags(c, registry.ModelRef(name, actual))
        if last["action"] == "promote" and tags.get(registry.PROMOTION_ID_TAG) != str(last["id"]):
            _tag_champion(c, registry.ModelRef(name, actual), last["champion_before"], last["id"])
        return None
    if recorded == actual:
        return None
    if last is not None and actual == last["champion_before"]:
        why = (f"row {last['id']} ({last['action']} of v{recorded}) did not complete: the process ended before the "
               f"alias moved; the champion is still {_v(actual)}")
    else:
        why = (f"the champion alias points at {_v(actual)} but the last record says {_v(recorded)}: "
               "the alias was moved outside the gate")
    row = ledger.append(engine, model_name=name, action="reconcile", decision="noted", version=actual,
                        champion_before=recorded, champion_after=actual, detail=why)
    log.warning("promotions table reconciled with the registry", data={"row": row, "detail": why})
    return row


def _v(version: str | None) -> str:
    return f"v{version}" if version is not None else "no version"


def _tag_champion(c: Any, ref: registry.ModelRef, previous: str | None, row_id: int) -> None:
    registry.set_tags(c, ref, {registry.PREVIOUS_CHAMPION_TAG: previous or registry.NO_VERSION,
                               registry.PROMOTION_ID_TAG: str(row_id)})


def _evidence_dict(g: Gathered) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for role, run in (("challenger", g.challenger_run), ("champion", g.champion_run)):
        if run is not None:
            out[role] = {"run_dir": str(run.run_dir), "mlflow_run_id": run.mlflow_run_id,
                         "pnl": float(run.metrics["pnl"]), "n_trades": int(run.metrics["n_trades"]),
                         "order_hash": run.order_hash}
    return out


def write_verdict(run_dir: Path, verdict: Verdict) -> Path:
    """``verdict.json`` beside the replay's outputs (the report shows it)."""
    path = run_dir / VERDICT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(verdict.as_dict(), indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    from live_engine.backtest.report import render_report

    render_report(run_dir)  # the challenger's report shows the verdict
    return path


def _step_fn(console: Console | None) -> Callable[[str], AbstractContextManager[Any]]:
    if console is None:
        return lambda _label: nullcontext()
    from quantumtrader.progress import step

    return lambda label: step("promote", label, console=console)


def _gather(settings: Settings, challenger_uri: str, champion_uri: str, sessions: Sequence[date] | int | None,
            console: Console | None, prefix: str) -> Gathered:
    from training.promotion.evidence import gather

    return gather(settings, challenger_uri, champion_uri, sessions=sessions, run_prefix=prefix,
                  step=_step_fn(console))


def evaluate(settings: Settings, *, challenger_uri: str | None = None, champion_uri: str | None = None,
             sessions: Sequence[date] | int | None = None, console: Console | None = None) -> Outcome:
    """A dry run of the gate: replay both, decide, record an ``evaluate`` row; move nothing.

    The decision reads ``passed`` where a promotion would have read ``promoted``.
    """
    default_ch, default_champ = uris(settings)
    engine = _engine(settings)
    with _locked(settings, engine, console):
        g = _gather(settings, challenger_uri or default_ch, champion_uri or default_champ, sessions, console, "eval")
        verdict = as_dry_run(decide(g.evidence, settings.promotion))
        champ = g.champion.version if g.champion else None
        row = ledger.append(engine, model_name=g.challenger.name, action="evaluate", decision=verdict.decision,
                            version=g.challenger.version, champion_before=champ, champion_after=None,
                            checks=[c.as_dict() for c in verdict.checks], sessions=list(g.evidence.sessions),
                            evidence=_evidence_dict(g), detail="; ".join(verdict.reasons))
    if g.challenger_run is not None:
        write_verdict(g.challenger_run.run_dir, verdict)
    return Outcome("evaluate", verdict, row, g.challenger.version, champ, champ, sessions=g.evidence.sessions,
                   run_dirs={k: v["run_dir"] for k, v in _evidence_dict(g).items()})


def promote(settings: Settings, *, challenger_uri: str | None = None, version: str | None = None,
            force: bool = False, reason: str = "", sessions: Sequence[date] | int | None = None,
            console: Console | None = None) -> Outcome:
    """Run the gate on the challenger (``version``, else ``challenger_uri``, else ``@<training.alias>``) and
    move ``champion`` to it when the policy says so (module docstring). ``force`` skips the evidence
    (not the serving contract) and is recorded as forced with ``reason``."""
    default_ch, champion_uri = uris(settings)
    name = settings.training.registered_model_name
    if version is not None:
        challenger_uri = f"models:/{name}/{version}"
    challenger_uri = challenger_uri or default_ch
    if force and not reason.strip():
        raise InputError("a forced promotion needs --reason: say why the gate is skipped")
    engine = _engine(settings)
    c = registry.client(settings.mlflow_tracking_uri)
    with _locked(settings, engine, console):
        before = registry.alias_version(c, name, settings.promotion.champion_alias)
        if force:
            ref = registry.resolve(c, challenger_uri)
            g, verdict = None, _forced_verdict(settings, ref, before, reason)
        else:
            g = _gather(settings, challenger_uri, champion_uri, sessions, console, "gate")
            verdict, ref = decide(g.evidence, settings.promotion), g.challenger
        if ref.version == before:
            raise InputError(f"{ref.uri} is the champion already: nothing to promote")
        pause_point("evaluated")
        promoted = verdict.decision == PROMOTED
        ev = _evidence_dict(g) if g is not None else {}
        row = ledger.append(engine, model_name=name, action="promote", decision=verdict.decision, version=ref.version,
                            champion_before=before, champion_after=ref.version if promoted else before,
                            forced=force, checks=[ck.as_dict() for ck in verdict.checks],
                            sessions=list(g.evidence.sessions) if g else [], evidence=ev,
                            detail=reason if force else "; ".join(verdict.reasons))
        pause_point("recorded")
        if promoted:
            registry.move_alias(c, ref, settings.promotion.champion_alias)
            log.info("champion moved", data={"model": name, "from": before, "to": ref.version, "row": row,
                                             "forced": force})
            pause_point("alias_moved")
            _tag_champion(c, ref, before, row)
            pause_point("tagged")
    if g is not None and g.challenger_run is not None:
        write_verdict(g.challenger_run.run_dir, verdict)
    after = ref.version if promoted else before
    return Outcome("promote", verdict, row, ref.version, before, after, forced=force,
                   sessions=g.evidence.sessions if g else (), run_dirs={k: v["run_dir"] for k, v in ev.items()})


def _serving_refusal(settings: Settings, ref: registry.ModelRef) -> str | None:
    """Why the serving code refuses to load ``ref`` (None when it loads)."""
    from serving.predictor import ModelRefused
    from training.promotion.evidence import load_model

    try:
        load_model(settings, ref.uri)
    except ModelRefused as err:
        return str(err)
    return None


def _forced_verdict(settings: Settings, ref: registry.ModelRef, champion: str | None, reason: str) -> Verdict:
    """A forced promotion skips the evidence but never the serving contract: a champion the engine
    refuses to load would leave it with nothing to serve."""
    refused = _serving_refusal(settings, ref)
    check = Check("feature_contract", refused is None, "equal" if refused is None else "differs", "equal",
                  refused or "the serving code loads it")
    skipped = Check("forced", True, "skipped", "the gate", f"evidence not evaluated, forced: {reason}")
    return Verdict(PROMOTED if refused is None else REFUSED, ref.uri,
                   f"models:/{ref.name}/{champion}" if champion else None, (check, skipped))


def rollback(settings: Settings, *, reason: str = "", console: Console | None = None) -> Outcome:
    """Move ``champion`` back to the version the current champion replaced (from the table, else its tag)."""
    name, alias = settings.training.registered_model_name, settings.promotion.champion_alias
    engine = _engine(settings)
    c = registry.client(settings.mlflow_tracking_uri)
    with _locked(settings, engine, console):
        current = registry.alias_version(c, name, alias)
        if current is None:
            raise InputError(f"{name} has no @{alias}: nothing to roll back")
        made = ledger.promotion_of(engine, name, current)
        previous = made["champion_before"] if made else None
        if made is None:
            tag = registry.version_tags(c, registry.ModelRef(name, current)).get(registry.PREVIOUS_CHAMPION_TAG)
            previous = None if tag in (None, registry.NO_VERSION) else tag
        if previous is None:
            raise InputError(f"v{current} replaced no champion (it was the first): there is nothing to roll back to")
        target = registry.ModelRef(name, previous)
        refused = _serving_refusal(settings, target)
        if refused is not None:
            raise InputError(f"v{previous} (the champion v{current} replaced) cannot be served by this code: "
                             f"{refused}; promote another version instead")
        detail = reason or f"rolled back from v{current} to v{previous}"
        verdict = Verdict("rolled back", target.uri, f"models:/{name}/{current}", ())
        row = ledger.append(engine, model_name=name, action="rollback", decision="rolled back", version=previous,
                            champion_before=current, champion_after=previous, detail=detail)
        pause_point("recorded")
        registry.move_alias(c, target, alias)
        log.info("champion rolled back", data={"model": name, "from": current, "to": previous, "row": row})
    return Outcome("rollback", verdict, row, previous, current, previous)


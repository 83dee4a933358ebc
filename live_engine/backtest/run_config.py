"""Which agents and decision / risk config a backtest runs with: the model version's bundle, or the
working tree on explicit request (``qtml backtest --config-from working-tree``).

A backtest of a registered version tests that version as it was trained: its agent YAMLs and its
coordinator, consensus and risk config come from its bundle (:class:`serving.bundle.Bundle`), so
editing ``live_engine/decision/agents/*.yaml`` or ``live.risk`` afterwards changes nothing. The
working-tree override exists to try a change before retraining; the run records it (tag
``config_from``) and lists every item where the working tree differs from the bundle. Execution
(fills, costs) always comes from the running config: see :meth:`serving.bundle.Bundle.live_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from live_engine.config import LiveConfig
from live_engine.decision.agents import Agent, agent_configs, load_agents
from quantumtrader.errors import InputError

if TYPE_CHECKING:
    from quantumtrader.config import Settings
    from serving.bundle import Bundle

BUNDLE, WORKING_TREE = "bundle", "working-tree"
CONFIG_FROM = (BUNDLE, WORKING_TREE)
_SECTIONS = ("coordinator", "consensus", "risk")


@dataclass(frozen=True)
class RunConfig:
    """The configs one backtest runs with, and where they came from."""

    source: str  # "bundle" | "working-tree"
    live: LiveConfig
    agents: list[Agent]
    agent_configs: dict[str, Any]
    differs_from_bundle: tuple[str, ...] = ()  # dotted items where the working tree differs (override only)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value
    return out


def differences(bundle: Bundle, live: LiveConfig, agent_docs: Mapping[str, Any]) -> tuple[str, ...]:
    """Every item (``risk.max_daily_trades``, ``agents.order_flow.params.dead_zone``) where ``live`` and
    ``agent_docs`` differ from the bundle's."""
    theirs = _flat("", {**bundle.live_sections(), "agents": bundle.agent_configs}, {})
    mine = _flat("", {**{k: getattr(live, k).model_dump(mode="json") for k in _SECTIONS},
                      "agents": dict(agent_docs)}, {})
    return tuple(sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k)))


def check_config_from(config_from: str) -> str:
    """``config_from`` if it is one of :data:`CONFIG_FROM`, else one line saying what to give."""
    if config_from not in CONFIG_FROM:
        raise InputError(f"config source {config_from!r} (--config-from, config_from): give one of "
                         f"{list(CONFIG_FROM)}: the version's own agents and config, or the working tree's")
    return config_from


def run_config(settings: Settings, bundle: Bundle | None, config_from: str = BUNDLE) -> RunConfig:
    """The bundle's agents and config (``config_from="bundle"``), or the working tree's
    (``"working-tree"``: ``live.*`` of the running config and the YAMLs in ``live.backtest.agents_dir``).

    Without a bundle (an in-memory model, a scripted run) there is only the working tree.
    """
    if check_config_from(config_from) == BUNDLE and bundle is not None:
        return RunConfig(BUNDLE, bundle.live_config(settings.live), list(bundle.agents), dict(bundle.agent_configs))
    directory = settings.live.backtest.agents_dir
    agents, docs = load_agents(directory), agent_configs(directory)
    diff = differences(bundle, settings.live, docs) if bundle is not None else ()
    return RunConfig(WORKING_TREE, settings.live, agents, docs, diff)

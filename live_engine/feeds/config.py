"""Configuration of the engine's market data feeds (``live_engine/feeds/``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from quantumtrader.frozen import FrozenModel

FeedKind = Literal["replay", "sim", "zmq"]


class FeedsConfig(FrozenModel):
    """Which feed ``qtml engine start`` reads, how fast, and when bad input halts trading."""

    default: FeedKind = Field("sim", description="Feed of `qtml engine start` without --feed: replay (lake "
                                                  "sessions), sim (the simulator, live) or zmq (the ingress).")
    speed: float = Field(60.0, ge=0.0, description="Replay and sim pace: 1 = real time, 60 = a minute per second, "
                                                    "0 = as fast as the engine reads.")
    replay_sessions: int = Field(1, gt=0, description="The replay feed plays the last N lake sessions.")
    sim_sessions: int = Field(5, gt=0, description="Sessions the sim feed generates, from the day after the lake's "
                                                   "last (or today).")
    sim_seed: int = Field(11, description="Seed of the sim feed (a different tape from the demo's lake).")
    ingress_endpoint: str = Field("tcp://127.0.0.1:5560",
                                  description="ZMQ PULL socket the engine binds for the zmq feed; a bridge "
                                              "(or `qtml feed publish`) connects a PUSH socket to it.")
    stale_after_s: float | None = Field(None, gt=0, description="No data for this long (feed time) inside a "
                                        "session: no new entries, alert connection_lost. None = "
                                        "live.risk.stale_after_bars bar intervals.")
    bar_close_grace_ms: int | None = Field(
        500, ge=0, description="A real-time feed (the zmq ingress) closes a bar this long after its close when no "
        "event has closed it (a quiet market, the session's last bar); null: bars close only on events.")
    max_consecutive_bad: int = Field(50, gt=0, description="Malformed messages or bad ticks in a row that halt "
                                                           "trading (each one is dropped and counted).")
    max_ts_regress_ms: float = Field(0.0, ge=0.0, description="An event this much (ms) older than the latest of "
                                                              "its kind (trades, book) is dropped as out of order; "
                                                              "0 = the ingest's rule (never earlier).")
    ingress_allow_any_interface: bool = Field(False, description="Let the ingress bind a non-loopback address "
                                                                 "(0.0.0.0, a LAN IP): only behind a firewall.")
    poll_max_events: int = Field(10_000, gt=0, description="Events one poll returns at most (the engine loop "
                                                           "also serves control and timers).")

"""Configuration of the engine process (``live_engine/service/``): control, supervisor, hot-swap,
broadcast, metrics, alerts and recording."""

from __future__ import annotations

from pydantic import Field

from quantumtrader.frozen import FrozenModel


class AlertsConfig(FrozenModel):
    """Thresholds of the engine's alerts (levels INFO / WARNING / ERROR / CRITICAL)."""

    latency_ms: float = Field(50.0, gt=0, description="Bar decision latency above this -> WARNING.")
    win_rate_min: float = Field(0.45, ge=0, le=1, description="Win rate below this -> WARNING ...")
    win_rate_min_trades: int = Field(20, gt=0, description="... once at least this many trades closed.")
    drawdown_max_pct: float = Field(0.10, gt=0, lt=1, description="Drawdown of account capital above this -> ERROR.")
    error_rate_max: float = Field(0.05, gt=0, le=1, description="Share of bad messages / degraded bars over the "
                                                                "last minute above this -> ERROR.")
    webhook_url: str | None = Field(None, description="POST each alert as JSON here (optional).")
    webhook_timeout_s: float = Field(2.0, gt=0, le=30, description="A webhook POST gives up after this long "
                                                                   "(in a background thread: the engine never waits).")
    repeat_after_s: float = Field(300.0, ge=0, description="The same alert is raised again at most this often.")


class MonitorConfig(FrozenModel):
    """``qtml monitor``: the web page fed by the broadcast (docs/monitor.md)."""

    host: str = Field("127.0.0.1", min_length=1, description="Address the page binds; beyond loopback a token "
                                                              "is required.")
    port: int = Field(8080, ge=1, le=65535, description="Port of the page.")
    token: str | None = Field(None, min_length=8, description="Required by every request when set (?token=...); "
                                                              "set it in the environment, not in YAML.")


class ServiceConfig(FrozenModel):
    """The engine process."""

    model_uri: str = Field("models:/quantumtrader@champion", description="The bundle the engine trades.")
    control_endpoint: str | None = Field(None, description="ZMQ REP socket of `qtml engine status|stop|...`; "
                                                           "default ipc://var/run/engine.sock.")
    warmup_sessions: int | None = Field(None, ge=0, description="Lake sessions replayed at start-up without trading; "
                                                                "None = as the backtest derives it.")
    restart_attempts: int = Field(3, ge=0, description="The supervisor restarts a crashed engine this many times ...")
    restart_delay_s: float = Field(5.0, ge=0, description="... this far apart, then stays down (CRITICAL alert).")
    champion_poll_s: float = Field(60.0, gt=0, description="How often the engine asks the registry for a new "
                                                           "@champion (hot-swap between bars).")
    shadow_challenger: bool = Field(False, description="Also score @challenger on every bar (logged, never trades).")
    broadcast_hwm: int = Field(10_000, gt=0, description="Messages queued per subscriber; beyond, dropped and counted.")
    broadcast_allow_remote: bool = Field(False, description="Allow live.zmq_pub_endpoint on a non-loopback "
                                                            "address (otherwise refused at start).")
    metrics_window_bars: int = Field(1000, gt=0, description="Latency p50 / p99 are over the last this many bars.")
    metrics_every_s: float = Field(5.0, gt=0, description="var/metrics/current_metrics.json is rewritten this often.")
    prometheus_port: int | None = Field(9108, ge=0, le=65535, description="Prometheus endpoint on 127.0.0.1; "
                                                                          "null disables it, 0 picks a free port.")
    latency_target_ms: float = Field(10.0, gt=0, description="Decision latency the engine aims for (reported).")
    record: bool = Field(True, description="Write every received trade and book event to the lake.")
    record_flush_s: float = Field(1.0, gt=0, description="Recorded events are made durable at least this often.")
    alerts: AlertsConfig = AlertsConfig()
    monitor: MonitorConfig = MonitorConfig()

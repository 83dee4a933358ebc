"""The knowledge base's tables (SQLAlchemy 2.0 declarative), the same on SQLite and PostgreSQL.

- ``kb_papers``: one row per arXiv paper (``arxiv_id`` without its version; the newest version seen).
- ``kb_ideas``: what a paper suggests trying — a feature, a model family, a validation method or a training
  option — named by ``target`` and found by the extractor's ``rule``, with a score and the evidence text.
  One row per (paper, kind, target, rule).
- ``kb_experiments``: an MLflow run or a parameter study that tried something; (kind, ref) is unique.
- ``kb_results``: the metrics an experiment reported, one value per (experiment, metric).
- ``kb_idea_experiment``: which experiments tried which ideas (many to many).

The names carry a ``kb_`` prefix because ``stores.kb_db_url`` may point at a database shared with other
stores: MLflow's own schema has an ``experiments`` table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FEATURE, MODEL, VALIDATION, TRAINING = "feature", "model", "validation", "training"
IDEA_KINDS = (FEATURE, MODEL, VALIDATION, TRAINING)
NEW, TRIED, ADOPTED, REJECTED = "new", "tried", "adopted", "rejected"
STATUSES = (NEW, TRIED, ADOPTED, REJECTED)
MLFLOW_RUN, STUDY = "mlflow_run", "study"
EXPERIMENT_KINDS = (MLFLOW_RUN, STUDY)

UTCDateTime = sa.DateTime(timezone=True)
Float64 = sa.Float(precision=53)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


class Base(DeclarativeBase):
    pass


class Paper(Base):
    __tablename__ = "kb_papers"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    arxiv_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # 2401.01234 or q-fin/0601001, no version
    version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.Text)
    authors: Mapped[list[str]] = mapped_column(sa.JSON)
    abstract: Mapped[str] = mapped_column(sa.Text)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first version
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)  # this version
    categories: Mapped[list[str]] = mapped_column(sa.JSON)
    primary_category: Mapped[str | None] = mapped_column(sa.String(64))
    pdf_url: Mapped[str | None] = mapped_column(sa.Text)
    doi: Mapped[str | None] = mapped_column(sa.String(256))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sections: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)  # the PDF's text by section, when analysed


class Idea(Base):
    __tablename__ = "kb_ideas"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    paper_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("kb_papers.id", ondelete="CASCADE"),
                                          index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.String(64))  # a feature group (order_flow, book, ...) or an option
    rule: Mapped[str] = mapped_column(sa.String(128))  # the extractor rule that found it
    title: Mapped[str] = mapped_column(sa.Text)
    score: Mapped[float] = mapped_column(Float64)
    evidence: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("paper_id", "kind", "target", "rule", name="kb_ideas_unique_finding"),
        _one_of("kind", IDEA_KINDS, "kb_ideas_kind_known"),
        _one_of("status", STATUSES, "kb_ideas_status_known"),
    )


class Experiment(Base):
    __tablename__ = "kb_experiments"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ref: Mapped[str] = mapped_column(sa.String(250))  # the MLflow run id or the study id
    name: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("kind", "ref", name="kb_experiments_unique_ref"),
        _one_of("kind", EXPERIMENT_KINDS, "kb_experiments_kind_known"),
    )


class Result(Base):
    __tablename__ = "kb_results"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("kb_experiments.id", ondelete="CASCADE"),
                                               index=True)
    metric: Mapped[str] = mapped_column(sa.String(128))
    value: Mapped[float | None] = mapped_column(Float64)  # NULL: not a finite number (NaN, inf)
    detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("experiment_id", "metric", name="kb_results_unique_metric"),)


class IdeaExperiment(Base):
    __tablename__ = "kb_idea_experiment"

    idea_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("kb_ideas.id", ondelete="CASCADE"),
                                         primary_key=True)
    experiment_id: Mapped[int] = mapped_column(sa.Integer, sa.ForeignKey("kb_experiments.id", ondelete="CASCADE"),
                                               primary_key=True, index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)


TABLES = tuple(Base.metadata.tables)

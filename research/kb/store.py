"""The knowledge base: papers, the ideas they suggest, the experiments that tried them and their results.

One class, :class:`KnowledgeBase`, over the tables of :mod:`research.kb.models`, on SQLite (the default,
``stores.kb_db_url``) or PostgreSQL by URL. Every write is its own transaction and is idempotent on the
record's natural key, so a flow that is run again (the weekly research flow, a study that resumes)
never duplicates anything:

- a paper by its arXiv id: a newer version replaces the stored one, the same version fills fields that
  were empty (e.g. ``sections`` once the PDF is analysed), an older one changes nothing;
- an idea by (paper, kind, target, rule): the higher score wins (with its title and evidence);
- an experiment by (kind, ref); a result by (experiment, metric): the last value wins;
- a link by (idea, experiment); linking a ``new`` idea marks it ``tried``.

Reads return plain dicts (JSON-ready but for aware UTC datetimes). Bad input raises
:class:`~quantumtrader.errors.InputError` with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from quantumtrader.db import create_engine, exclusive_lock
from quantumtrader.errors import InputError
from research.kb import records
from research.kb.keys import (
    EXPERIMENT,
    IDEA,
    PAPER,
    PAPER_FIELDS,
    Key,
    fields_of,
    finite,
    one_of,
    paper_values,
    parse_key,
    split_arxiv_id,
)
from research.kb.models import (
    EXPERIMENT_KINDS,
    IDEA_KINDS,
    NEW,
    STATUSES,
    TRIED,
    Base,
    Experiment,
    Idea,
    IdeaExperiment,
    Paper,
    Result,
)

if TYPE_CHECKING:
    from quantumtrader.config import Settings

SCHEMA_LOCK_TIMEOUT_S = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


class KnowledgeBase:
    """The research knowledge base at one SQLAlchemy URL. Open it with :meth:`open` (or :meth:`for_settings`)."""

    def __init__(self, engine: Any, *, now: Callable[[], datetime] = _now) -> None:
        self.engine = engine
        self._now = now
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, now: Callable[[], datetime] = _now) -> KnowledgeBase:
        """Connect to ``url`` and create the tables that are missing (two processes never create them at once)."""
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_foreign_keys)
        with exclusive_lock(engine, "kb-schema", timeout_s=SCHEMA_LOCK_TIMEOUT_S):
            Base.metadata.create_all(engine, checkfirst=True)
        return cls(engine, now=now)

    @classmethod
    def for_settings(cls, settings: Settings) -> KnowledgeBase:
        """The knowledge base at ``stores.kb_db_url``."""
        assert settings.stores.kb_db_url is not None
        return cls.open(settings.stores.kb_db_url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _idempotent(self, write: Callable[[Session], int]) -> int:
        """Run ``write`` in a transaction; when a concurrent writer inserted the same key first, run it again
        (it then finds that row)."""
        try:
            with self._tx() as s:
                return write(s)
        except IntegrityError:
            with self._tx() as s:
                return write(s)

    # ---- papers -------------------------------------------------------------------------------------------
    def upsert_paper(self, paper: Any = None, /, **fields: Any) -> int:
        """Store a paper (a dataclass such as ``research.papers.Paper``, a mapping, or keyword fields; keywords
        win); returns its row id. Only the fields of :data:`PAPER_FIELDS` are read from an object or mapping."""
        unknown = sorted(set(fields) - set(PAPER_FIELDS))
        if unknown:
            raise InputError(f"upsert_paper: unknown field(s) {', '.join(unknown)}; known: {', '.join(PAPER_FIELDS)}")
        given = {**fields_of(paper), **fields}
        row = paper_values(given, self._now())
        present = {k for k in given if given[k] is not None} | {"arxiv_id", "version", "fetched_at"}

        def write(s: Session) -> int:
            old = s.scalar(sa.select(Paper).where(Paper.arxiv_id == row["arxiv_id"]))
            if old is None:
                new = Paper(**row)
                s.add(new)
                s.flush()
                return new.id
            if row["version"] > old.version:  # the new version replaces the record (its sections are re-read)
                for k, v in row.items():
                    setattr(old, k, v)
            elif row["version"] == old.version:
                for k in present:
                    if getattr(old, k) in (None, "", [], {}):
                        setattr(old, k, row[k])
            return old.id

        return self._idempotent(write)

    def paper(self, key: str | int) -> dict[str, Any]:
        """One paper by arXiv id or row id, without its ideas."""
        with self._tx() as s:
            return records.paper(self._paper_row(s, key))

    def _paper_row(self, s: Session, key: str | int) -> Paper:
        if isinstance(key, int):
            row = s.get(Paper, key)
            shown = f"paper:{key}"
        else:
            arxiv_id, _ = split_arxiv_id(key)
            row = s.scalar(sa.select(Paper).where(Paper.arxiv_id == arxiv_id))
            shown = arxiv_id
        if row is None:
            raise InputError(f"no paper {shown} in the knowledge base (`qtml kb search TEXT` finds papers)")
        return row

    # ---- ideas --------------------------------------------------------------------------------------------
    def add_idea(self, paper_id: int, kind: str, target: str, rule: str, *, title: str = "", score: float = 0.0,
                 evidence: str = "") -> int:
        """Store what paper ``paper_id`` suggests; returns the idea's row id. Adding the same (paper, kind,
        target, rule) again keeps one row with the higher score (and that finding's title and evidence)."""
        one_of(kind, IDEA_KINDS, "idea kind")
        target, rule = str(target).strip(), str(rule).strip()
        if not target or not rule:
            raise InputError("an idea needs a target (e.g. order_flow, purged_cv) and the rule that found it")
        score = finite(score, "idea score")
        given_title = " ".join(str(title).split())

        def write(s: Session) -> int:
            if s.get(Paper, paper_id) is None:
                raise InputError(f"no paper:{paper_id} in the knowledge base: store the paper first")
            old = s.scalar(sa.select(Idea).where(Idea.paper_id == paper_id, Idea.kind == kind,
                                                 Idea.target == target, Idea.rule == rule))
            if old is None:
                new = Idea(paper_id=paper_id, kind=kind, target=target, rule=rule,
                           title=given_title or f"{kind}: {target}", score=score,
                           evidence=str(evidence), status=NEW, created_at=self._now())
                s.add(new)
                s.flush()
                return new.id
            if score > old.score:
                old.score, old.evidence = score, str(evidence)
                old.title = given_title or old.title
            return old.id

        return self._idempotent(write)

    def set_status(self, idea_id: int, status: str) -> None:
        """Move an idea to ``status`` (new | tried | adopted | rejected)."""
        one_of(status, STATUSES, "status")
        with self._tx() as s:
            self._idea_row(s, idea_id).status = status

    def idea(self, idea_id: int) -> dict[str, Any]:
        with self._tx() as s:
            return records.idea(self._idea_row(s, idea_id))

    def _idea_row(self, s: Session, idea_id: int) -> Idea:
        row = s.get(Idea, idea_id)
        if row is None:
            raise InputError(f"no idea:{idea_id} in the knowledge base (`qtml kb ideas` lists them)")
        return row

    def ideas(self, *, status: str | None = None, kind: str | None = None, target: str | None = None,
              min_score: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Ideas, best score first (then oldest first), with their paper's arXiv id and title."""
        q = sa.select(Idea, Paper).join(Paper, Idea.paper_id == Paper.id)
        if status is not None:
            q = q.where(Idea.status == one_of(status, STATUSES, "status"))
        if kind is not None:
            q = q.where(Idea.kind == one_of(kind, IDEA_KINDS, "idea kind"))
        if target is not None:
            q = q.where(Idea.target == target)
        if min_score is not None:
            q = q.where(Idea.score >= finite(min_score, "min_score"))
        q = q.order_by(Idea.score.desc(), Idea.id).limit(_limit(limit))
        with self._tx() as s:
            return [records.idea(i, p) for i, p in s.execute(q).tuples()]

    # ---- experiments and results --------------------------------------------------------------------------
    def add_experiment(self, kind: str, ref: str, *, name: str = "", params: Mapping[str, Any] | None = None) -> int:
        """Record an MLflow run or a study; returns its row id. The same (kind, ref) again returns the same id
        (a name or params given then fill the stored ones only when those are empty)."""
        one_of(kind, EXPERIMENT_KINDS, "experiment kind")
        ref = str(ref).strip()
        if not ref:
            raise InputError(f"a {kind} needs its ref (the run id or study id)")

        def write(s: Session) -> int:
            old = s.scalar(sa.select(Experiment).where(Experiment.kind == kind, Experiment.ref == ref))
            if old is None:
                new = Experiment(kind=kind, ref=ref, name=name or ref, params=dict(params or {}),
                                 created_at=self._now())
                s.add(new)
                s.flush()
                return new.id
            if name and old.name == old.ref:
                old.name = name
            if params and not old.params:
                old.params = dict(params)
            return old.id

        return self._idempotent(write)

    def add_result(self, experiment_id: int, metric: str, value: float | None,
                   detail: Mapping[str, Any] | None = None) -> int:
        """Record ``metric = value`` of an experiment (a NaN or infinite value is stored as null); recording the
        same metric again replaces its value. Returns the result's row id."""
        metric = str(metric).strip()
        if not metric:
            raise InputError("a result needs a metric name")
        v = None if value is None else float(value)
        v = v if v is not None and v == v and abs(v) != float("inf") else None

        def write(s: Session) -> int:
            self._experiment_row(s, experiment_id)
            old = s.scalar(sa.select(Result).where(Result.experiment_id == experiment_id, Result.metric == metric))
            if old is None:
                old = Result(experiment_id=experiment_id, metric=metric)
                s.add(old)
            old.value, old.detail, old.recorded_at = v, dict(detail) if detail else None, self._now()
            s.flush()
            return old.id

        return self._idempotent(write)

    def experiment(self, key: str | int) -> dict[str, Any]:
        """One experiment (row id, or a key such as ``mlflow_run:REF``) with its results."""
        with self._tx() as s:
            row = self._experiment_row(s, key)
            return records.experiment(row, self._results(s, row.id))

    def experiment_id(self, key: str | int) -> int:
        """The row id of the experiment ``key`` names: a row id, ``experiment:N``, ``exp:REF``,
        ``mlflow_run:REF`` or ``study:REF``, or a bare ref."""
        with self._tx() as s:
            return self._experiment_row(s, key).id

    def _experiment_row(self, s: Session, key: str | int) -> Experiment:
        if isinstance(key, str) and key.strip().isdigit():
            key = int(key)
        if isinstance(key, int):
            row = s.get(Experiment, key)
            if row is None:
                raise InputError(f"no experiment:{key} in the knowledge base")
            return row
        k = parse_key(key) if ":" in key else Key(EXPERIMENT, "ref", key.strip())
        if k.table != EXPERIMENT:
            raise InputError(f"{key!r} names a {k.table}, not an experiment")
        if k.by == "id":
            return self._experiment_row(s, int(k.value))
        q = sa.select(Experiment).where(Experiment.ref == k.value)
        if k.kind is not None:
            q = q.where(Experiment.kind == k.kind)
        rows = list(s.scalars(q))
        if not rows:
            raise InputError(f"no experiment with ref {k.value!r} in the knowledge base"
                             + ("" if k.kind else "; record one as mlflow_run:REF or study:REF"))
        if len(rows) > 1:
            raise InputError(f"ref {k.value!r} is both an MLflow run and a study: say mlflow_run:{k.value} "
                             f"or study:{k.value}")
        return rows[0]

    def _results(self, s: Session, experiment_id: int) -> list[dict[str, Any]]:
        q = sa.select(Result).where(Result.experiment_id == experiment_id).order_by(Result.metric)
        return [records.result(r) for r in s.scalars(q)]

    # ---- links --------------------------------------------------------------------------------------------
    def link(self, idea_id: int, experiment_id: int) -> bool:
        """Record that the experiment tried the idea; True when the link is new. A ``new`` idea becomes
        ``tried``; any other status is left as it is."""

        def write(s: Session) -> int:
            idea = self._idea_row(s, idea_id)
            self._experiment_row(s, experiment_id)
            if idea.status == NEW:
                idea.status = TRIED
            if s.get(IdeaExperiment, (idea_id, experiment_id)) is not None:
                return 0
            s.add(IdeaExperiment(idea_id=idea_id, experiment_id=experiment_id, linked_at=self._now()))
            s.flush()
            return 1

        return bool(self._idempotent(write))

    def experiments_of(self, idea_id: int) -> list[dict[str, Any]]:
        """The experiments that tried an idea, oldest link first, each with its results."""
        with self._tx() as s:
            self._idea_row(s, idea_id)
            return self._experiments_of(s, idea_id)

    def _experiments_of(self, s: Session, idea_id: int) -> list[dict[str, Any]]:
        q = (sa.select(Experiment).join(IdeaExperiment, IdeaExperiment.experiment_id == Experiment.id)
             .where(IdeaExperiment.idea_id == idea_id).order_by(IdeaExperiment.linked_at, Experiment.id))
        return [records.experiment(e, self._results(s, e.id)) for e in s.scalars(q)]

    def ideas_of(self, experiment_id: int) -> list[dict[str, Any]]:
        """The ideas an experiment tried, with their paper's arXiv id and title."""
        with self._tx() as s:
            self._experiment_row(s, experiment_id)
            return self._ideas_of(s, experiment_id)

    def _ideas_of(self, s: Session, experiment_id: int) -> list[dict[str, Any]]:
        q = (sa.select(Idea, Paper).join(Paper, Idea.paper_id == Paper.id)
             .join(IdeaExperiment, IdeaExperiment.idea_id == Idea.id)
             .where(IdeaExperiment.experiment_id == experiment_id).order_by(Idea.score.desc(), Idea.id))
        return [records.idea(i, p) for i, p in s.execute(q).tuples()]

    # ---- search and show ----------------------------------------------------------------------------------
    def search(self, text: str, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
        """Papers (title or abstract) and ideas (title or target) containing every word of ``text``, case
        insensitive: ``{"papers": [...], "ideas": [...]}``, each at most ``limit`` rows, newest papers and best
        ideas first."""
        words = text.split()
        if not words:
            raise InputError("search: give at least one word")
        pats = [records.like_pattern(w) for w in words]
        pq = (sa.select(Paper).where(sa.and_(*[sa.or_(Paper.title.ilike(p, escape="\\"),
                                                       Paper.abstract.ilike(p, escape="\\")) for p in pats]))
              .order_by(sa.func.coalesce(Paper.updated, Paper.published, Paper.fetched_at).desc(), Paper.id.desc())
              .limit(_limit(limit)))
        iq = (sa.select(Idea, Paper).join(Paper, Idea.paper_id == Paper.id)
              .where(sa.and_(*[sa.or_(Idea.title.ilike(p, escape="\\"), Idea.target.ilike(p, escape="\\"))
                               for p in pats]))
              .order_by(Idea.score.desc(), Idea.id).limit(_limit(limit)))
        with self._tx() as s:
            return {"papers": [records.paper(p) for p in s.scalars(pq)],
                    "ideas": [records.idea(i, p) for i, p in s.execute(iq).tuples()]}

    def show(self, key: str) -> dict[str, Any]:
        """The record ``key`` names (:mod:`research.kb.keys`) as a dict with a ``type``: a paper with its ideas
        and their experiments, an idea with its paper and experiments, or an experiment with its results and
        ideas."""
        k = parse_key(key)
        with self._tx() as s:
            if k.table == PAPER:
                p = self._paper_row(s, int(k.value) if k.by == "id" else str(k.value))
                q = sa.select(Idea).where(Idea.paper_id == p.id).order_by(Idea.score.desc(), Idea.id)
                ideas = [{**records.idea(i, p), "experiments": self._experiments_of(s, i.id)} for i in s.scalars(q)]
                return {"type": PAPER, **records.paper(p, full=True), "ideas": ideas}
            if k.table == IDEA:
                i = self._idea_row(s, int(k.value))
                return {"type": IDEA, **records.idea(i, s.get(Paper, i.paper_id)),
                        "experiments": self._experiments_of(s, i.id)}
            e = self._experiment_row(s, key)
            return {"type": EXPERIMENT, **records.experiment(e, self._results(s, e.id)),
                    "ideas": self._ideas_of(s, e.id)}


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or limit <= 0:
        raise InputError(f"limit {limit!r} must be a whole number above 0")
    return limit


def _sqlite_foreign_keys(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()

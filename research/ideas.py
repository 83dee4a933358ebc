"""Ideas a paper suggests for QuantumTrader, found by keyword rules (no downloaded model).

A rule (``research/rules.yaml``) names a *kind* — ``feature`` (a group of ``features.spec.GROUPS``),
``training`` (an option of ``training.config``), ``validation`` (a way to judge a strategy) or ``model``
(a model family, ``model:<family>``, whether or not we have it) — and patterns (regular expressions,
or plain keywords) with a weight. :func:`extract_ideas` counts the sentences each rule matches in the
paper's title, abstract and body sections; a hit in the title weighs more than one in the abstract,
which weighs more than one in the body, and the score saturates::

    raw   = rule.weight * sum over places of place_weight * min(matching sentences, max_hits)
    score = 1 - exp(-raw)

The same text gives the same ideas in the same order. ``docs/research-arxiv.md``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from features.spec import GROUPS
from quantumtrader.errors import InputError
from research.papers import Paper, Section

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
KINDS = ("feature", "model", "validation", "training")
PLACES = ("title", "abstract", "body")
DEFAULT_PLACE_WEIGHTS = {"title": 1.0, "abstract": 0.5, "body": 0.15}
DEFAULT_MAX_HITS = 3
EVIDENCE_SENTENCES = 3
EVIDENCE_CHARS = 300
# Body sections that cite or thank rather than propose: their words are other papers' ideas.
SKIPPED_SECTIONS = re.compile(r"^\s*(?:[\dIVX.]+\s+)?(references|bibliography|acknowledge?ments?)\s*$", re.I)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TARGET = re.compile(r"^[a-z][a-z0-9_]*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


@dataclass(frozen=True)
class Rule:
    """One pattern set mapping text to a (kind, target); ``title`` says the idea in words."""

    name: str
    kind: str
    target: str
    title: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class Rules:
    """The rules of one file and how hits are weighed by where they are."""

    rules: tuple[Rule, ...]
    place_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(DEFAULT_PLACE_WEIGHTS)))
    max_hits: int = DEFAULT_MAX_HITS
    source: str = "<rules>"


@dataclass(frozen=True)
class Idea:
    """What one rule found in one paper: ``score`` in [0, 1], ``evidence`` the matching sentences."""

    kind: str
    target: str
    rule: str
    title: str
    score: float
    evidence: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- loading


def _keyword(word: str) -> str:
    """A plain keyword as a pattern: whole words, any spacing or hyphen between its words."""
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", word.strip()) if p]
    return r"\b" + r"[\s\-]*".join(parts) + r"\b"


def _rule(raw: Any, where: str) -> Rule:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: a rule must be a mapping with name, kind, target and patterns or keywords")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(f"{where}: name {name!r} must be lower_snake_case")
    where = f"{where} ({name})"
    unknown = set(raw) - {"name", "kind", "target", "title", "weight", "patterns", "keywords"}
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}")
    kind, target = raw.get("kind"), raw.get("target")
    if kind not in KINDS:
        raise InputError(f"{where}: kind {kind!r} must be one of {KINDS}")
    if not isinstance(target, str):
        raise InputError(f"{where}: target must be a string")
    if kind == "feature" and target not in GROUPS:
        raise InputError(f"{where}: feature target {target!r} must be a feature group of features.spec: {GROUPS}")
    if kind == "model" and not (target.startswith("model:") and _TARGET.match(target[len("model:"):])):
        raise InputError(f"{where}: model target {target!r} must read model:<family>, e.g. model:transformer")
    if kind in ("training", "validation") and not _TARGET.match(target):
        raise InputError(f"{where}: target {target!r} must be lower_snake_case, e.g. purged_cv")
    weight = raw.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 10:
        raise InputError(f"{where}: weight {weight!r} must be a number in (0, 10]")
    sources: list[str] = []
    for key, convert in (("patterns", str), ("keywords", _keyword)):
        values = raw.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise InputError(f"{where}: {key} must be a list of non-empty strings")
        sources.extend(convert(v) for v in values)
    if not sources:
        raise InputError(f"{where}: give at least one of patterns or keywords")
    compiled = []
    for source in sources:
        try:
            compiled.append(re.compile(source, re.IGNORECASE))
        except re.error as e:
            raise InputError(f"{where}: pattern {source!r} is not a valid regular expression ({e})") from e
    title = raw.get("title", name.replace("_", " "))
    return Rule(name, kind, target, str(title), float(weight), tuple(compiled))


def load_rules(path: Path | str | None = None) -> Rules:
    """The rules of ``path`` (default: the packaged ``research/rules.yaml``).

    A bad file raises one :class:`InputError` line naming the file and the rule.
    """
    file = Path(path) if path is not None else DEFAULT_RULES
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{file}: cannot read the rules file ({e.strerror or e})") from e
    except yaml.YAMLError as e:
        raise InputError(f"{file}: not valid YAML ({' '.join(str(e).split())})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise InputError(f"{file}: expected a mapping with a 'rules' list")
    weights = dict(DEFAULT_PLACE_WEIGHTS)
    raw_weights = doc.get("place_weights", {})
    if not isinstance(raw_weights, dict) or set(raw_weights) - set(PLACES):
        raise InputError(f"{file}: place_weights may only set {PLACES}")
    for place, w in raw_weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            raise InputError(f"{file}: place_weights.{place} must be a number >= 0, not {w!r}")
        weights[place] = float(w)
    max_hits = doc.get("max_hits", DEFAULT_MAX_HITS)
    if isinstance(max_hits, bool) or not isinstance(max_hits, int) or max_hits < 1:
        raise InputError(f"{file}: max_hits must be an integer >= 1, not {max_hits!r}")
    rules = tuple(_rule(raw, f"{file}: rule {i + 1}") for i, raw in enumerate(doc["rules"]))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise InputError(f"{file}: rule {rule.name!r} is defined twice")
        seen.add(rule.name)
    return Rules(rules, MappingProxyType(weights), max_hits, str(file))


@functools.cache
def _packaged_rules() -> Rules:
    return load_rules(DEFAULT_RULES)


# ---------------------------------------------------------------------------------------------- scoring


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences, whitespace collapsed (line breaks of a PDF are not sentence ends)."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s] if flat else []


def _trim(sentence: str) -> str:
    return sentence if len(sentence) <= EVIDENCE_CHARS else sentence[: EVIDENCE_CHARS - 1].rstrip() + "…"


def _places(paper: Paper, sections: Sequence[Section]) -> dict[str, list[str]]:
    body: list[str] = []
    for section in sections:
        heading = section.title.strip().lower()
        if SKIPPED_SECTIONS.match(heading) or heading == "front" or (paper.abstract and heading == "abstract"):
            continue  # front and abstract repeat the metadata already counted; references cite others
        body.extend(sentences(section.text))
    return {"title": sentences(paper.title), "abstract": sentences(paper.abstract), "body": body}


def score_rule(rule: Rule, places: Mapping[str, Sequence[str]], rules: Rules) -> tuple[float, tuple[str, ...]]:
    """The score of ``rule`` over sentences by place, and its evidence (title first, then abstract, body)."""
    raw = 0.0
    evidence: list[str] = []
    for place in PLACES:
        hits = [s for s in places.get(place, ()) if any(p.search(s) for p in rule.patterns)]
        raw += rules.place_weights.get(place, 0.0) * min(len(hits), rules.max_hits)
        evidence.extend(h for h in hits if h not in evidence)
    score = 1.0 - math.exp(-rule.weight * raw)
    return score, tuple(_trim(e) for e in evidence[:EVIDENCE_SENTENCES])


def extract_ideas(paper: Paper, sections: Sequence[Section] = (), rules: Rules | None = None,
                  min_score: float = 0.0) -> list[Idea]:
    """The ideas of ``paper`` (title, abstract and the body ``sections``), best first.

    One idea per matching rule with ``score >= min_score``; rules sharing a target give separate ideas
    (``Idea.rule`` tells them apart). Ties are ordered by kind, target and rule name.
    """
    rules = rules if rules is not None else _packaged_rules()
    places = _places(paper, sections)
    ideas = []
    for rule in rules.rules:
        score, evidence = score_rule(rule, places, rules)
        if score > 0 and score >= min_score:
            ideas.append(Idea(rule.kind, rule.target, rule.name, rule.title, round(score, 6), evidence))
    return sorted(ideas, key=lambda i: (-i.score, i.kind, i.target, i.rule))

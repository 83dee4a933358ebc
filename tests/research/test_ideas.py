"""The idea extractor: realistic abstracts map to our feature groups, training options and checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from minipdf import PAPER_PAGES, make_pdf

from features.spec import GROUPS
from quantumtrader.errors import InputError
from research.arxiv import parse_feed
from research.ideas import Idea, extract_ideas, load_rules
from research.papers import Paper, Section, analyse_pdf

DATA = Path(__file__).parent / "data"
WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _paper(title: str, abstract: str = "") -> Paper:
    return Paper("2401.00001", 1, title, ("A",), abstract, WHEN, WHEN, ("q-fin.TR",), "q-fin.TR", "x")


def _recorded(arxiv_id: str) -> Paper:
    papers = [p for name in ("search_page1.xml", "search_page2.xml", "search_page3.xml")
              for p in parse_feed((DATA / name).read_bytes()).papers]
    return next(p for p in papers if p.arxiv_id == arxiv_id)


def _by_rule(ideas: list[Idea]) -> dict[str, Idea]:
    return {i.rule: i for i in ideas}


def test_the_order_flow_imbalance_paper_maps_to_order_flow_and_microstructure_features() -> None:
    ideas = extract_ideas(_recorded("1011.6402"))

    features = [(i.target, i.rule) for i in ideas if i.kind == "feature"]
    # "price impact" and "order book" are in the title, "order flow imbalance" in two sentences of the abstract
    assert features[:3] == [("microstructure", "book_imbalance"), ("microstructure", "price_impact"),
                            ("order_flow", "order_flow_imbalance")]
    ofi = _by_rule(ideas)["order_flow_imbalance"]
    assert ofi.score == pytest.approx(1 - math.exp(-1.0), abs=1e-6)  # 2 abstract sentences x 0.5
    assert len(ofi.evidence) == 2 and all("order flow imbalance" in e for e in ofi.evidence)


def test_the_backtest_overfitting_paper_is_a_validation_idea_for_pbo_and_the_deflated_sharpe() -> None:
    paper = _recorded("1504.00717")
    ideas = extract_ideas(paper, min_score=0.3)

    assert (ideas[0].kind, ideas[0].target) == ("validation", "pbo")
    assert {i.target for i in ideas} == {"pbo", "deflated_sharpe"}
    walk = _by_rule(extract_ideas(paper))["walk_forward"]  # "out-of-sample" once, a loosely used word
    assert 0 < walk.score < 0.3


def test_the_transformer_paper_names_models_we_do_not_have_and_our_training_options() -> None:
    rules = _by_rule(extract_ideas(_recorded("2306.01234")))

    assert rules["transformers"].target == "model:transformer"
    assert rules["transformers"].score > rules["recurrent_networks"].score  # title beats abstract
    assert rules["recurrent_networks"].target == "model:lstm"
    assert rules["gradient_boosting"].target == "model:gradient_boosting"
    for rule, target in (("triple_barrier_labels", "triple_barrier"), ("purged_cross_validation", "purged_cv"),
                         ("embargo", "embargo"), ("lgbm_hyperparameters", "lgbm_params")):
        assert (rules[rule].kind, rules[rule].target) == ("training", target)


def test_several_rules_can_share_a_target_and_stay_separate_ideas() -> None:
    ideas = extract_ideas(_paper("Kyle lambda and queue imbalance", "The bid-ask spread of brokers' trades."))

    micro = sorted(i.rule for i in ideas if i.target == "microstructure")
    assert micro == ["book_imbalance", "broker_flow", "price_impact", "spread"]


def test_a_title_hit_outweighs_an_abstract_hit_which_outweighs_a_body_hit() -> None:
    title = extract_ideas(_paper("Realized volatility"))
    abstract = extract_ideas(_paper("A study", "We forecast realized volatility."))
    body = extract_ideas(_paper("A study"), [Section("3 Method", "We forecast realized volatility.")])

    scores = [next(i.score for i in ideas if i.rule == "realized_volatility") for ideas in (title, abstract, body)]
    assert scores[0] > scores[1] > scores[2] > 0
    assert scores[0] == pytest.approx(1 - math.exp(-1.0), abs=1e-6)  # weight 1, title weight 1, one sentence


def test_the_score_saturates_below_one_and_counts_at_most_max_hits_sentences_per_place() -> None:
    sentence = "Realized volatility matters. "
    three = extract_ideas(_paper("x", sentence * 3))
    many = extract_ideas(_paper("Realized volatility everywhere", sentence * 40))

    assert next(i.score for i in three if i.rule == "realized_volatility") == pytest.approx(1 - math.exp(-1.5))
    top = next(i for i in many if i.rule == "realized_volatility")
    assert 0.9 < top.score < 1.0
    assert len(top.evidence) == 2  # the title and one distinct abstract sentence


def test_references_and_the_front_matter_are_not_body_evidence() -> None:
    sections = analyse_pdf(make_pdf(PAPER_PAGES))
    paper = _paper("Order Flow Imbalance and Intraday Returns", "We study the order flow imbalance of trades.")

    rules = _by_rule(extract_ideas(paper, sections))

    assert "transformers" not in rules  # only the REFERENCES section names a transformer
    assert rules["embargo"].evidence == ("A gradient boosting model is trained with purged cross-validation and an "
                                         "embargo of five bars; probabilities are calibrated with temperature "
                                         "scaling.",)
    assert rules["probability_calibration"].kind == "training"


def test_extraction_is_deterministic_and_sorted_best_first() -> None:
    paper = _recorded("2306.01234")
    first, second = extract_ideas(paper), extract_ideas(paper)

    assert first == second
    assert [i.score for i in first] == sorted((i.score for i in first), reverse=True)
    assert all(0 < i.score < 1 for i in first)


def test_min_score_filters_and_a_paper_that_matches_nothing_has_no_ideas() -> None:
    assert extract_ideas(_recorded("math/0101001")) == []
    assert all(i.score >= 0.5 for i in extract_ideas(_recorded("2306.01234"), min_score=0.5))


def test_the_packaged_rules_cover_every_feature_group_and_every_kind() -> None:
    rules = load_rules()

    assert {r.target for r in rules.rules if r.kind == "feature"} == set(GROUPS)
    assert {r.kind for r in rules.rules} == {"feature", "model", "validation", "training"}
    assert rules.place_weights["title"] > rules.place_weights["abstract"] > rules.place_weights["body"]


def test_a_user_rule_file_with_keywords_and_patterns_is_used(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "place_weights: {title: 2.0}\n"
        "rules:\n"
        "  - name: hawkes_arrivals\n    kind: feature\n    target: volume\n    weight: 0.5\n"
        "    keywords: [self exciting]\n    patterns: ['\\bHawkes\\b']\n")

    ideas = extract_ideas(_paper("Self-exciting Hawkes arrivals"), rules=load_rules(path))

    assert ideas == [Idea("feature", "volume", "hawkes_arrivals", "hawkes arrivals", round(1 - math.exp(-1.0), 6),
                          ("Self-exciting Hawkes arrivals",))]


@pytest.mark.parametrize("body, message", [
    ("rules: [{name: x, kind: feature, target: book, keywords: [a]}]",
     r"rule 1 \(x\): feature target 'book' must be a feature group"),
    ("rules: [{name: x, kind: model, target: transformer, keywords: [a]}]",
     r"rule 1 \(x\): model target 'transformer' must read model:<family>"),
    ("rules: [{name: x, kind: idea, target: t, keywords: [a]}]", r"rule 1 \(x\): kind 'idea' must be one of"),
    ("rules: [{name: ok, kind: training, target: t, keywords: [a]}, {name: y, kind: training, target: t, "
     "patterns: ['(unclosed']}]", r"rule 2 \(y\): pattern '\(unclosed' is not a valid regular expression"),
    ("rules: [{name: x, kind: training, target: t}]", r"rule 1 \(x\): give at least one of patterns or keywords"),
    ("rules: [{name: x, kind: training, target: t, keywords: [a], weight: 0}]", r"rule 1 \(x\): weight 0"),
    ("rules: [{name: x, kind: training, target: t, keyword: [a]}]", r"rule 1 \(x\): unknown keys \['keyword'\]"),
    ("rules: [{name: x, kind: training, target: t, keywords: [a]}, {name: x, kind: training, target: t, "
     "keywords: [b]}]", r"rule 'x' is defined twice"),
    ("rules: [{name: Bad Name}]", r"rule 1: name 'Bad Name' must be lower_snake_case"),
    ("rules: {a: 1}", r"expected a mapping with a 'rules' list"),
    ("rules: [a: b: c]", r"not valid YAML"),
])
def test_a_bad_rules_file_is_one_input_error_naming_the_file_and_the_rule(tmp_path: Path, body: str,
                                                                           message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)

    with pytest.raises(InputError, match=message) as info:
        load_rules(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)

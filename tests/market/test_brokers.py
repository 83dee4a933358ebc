"""The broker registry: names keep their ids forever, across loads and saves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from market.brokers import MISSING_BROKER, BrokerRegistry
from quantumtrader.errors import InputError


def test_known_names_keep_their_ids_across_two_loads_and_saves(tmp_path: Path) -> None:
    path = tmp_path / "_meta" / "brokers.json"
    first = BrokerRegistry.load(path)
    ids = {name: first.id_for(name) for name in ["XP", "BTG", "Itaú"]}
    first.save()

    second = BrokerRegistry.load(path)
    assert {name: second.id_for(name) for name in ["Itaú", "XP", "BTG"]} == ids
    new_id = second.id_for("Genial")
    assert new_id == max(ids.values()) + 1
    second.save()

    third = BrokerRegistry.load(path)
    assert third.as_dict() == {**ids, "Genial": new_id}
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_new_names_continue_after_seeded_b3_codes(tmp_path: Path) -> None:
    registry = BrokerRegistry({"XP": 3, "BTG": 85}, path=tmp_path / "b.json")
    assert registry.id_for(" XP ") == 3
    assert registry.id_for("Modal") == 86


def test_ids_for_is_vectorised_and_maps_missing_names_to_minus_one() -> None:
    registry = BrokerRegistry({"XP": 3})
    ids = registry.ids_for(pd.Series(["XP", None, "", "BTG", "XP", np.nan]))
    assert ids.dtype == np.int32
    assert ids.tolist() == [3, MISSING_BROKER, MISSING_BROKER, 4, 3, MISSING_BROKER]


def test_conflicting_registration_is_refused() -> None:
    registry = BrokerRegistry({"XP": 3})
    with pytest.raises(InputError, match="already has id 3"):
        registry.register("XP", 4)
    with pytest.raises(InputError, match="already belongs to 'XP'"):
        registry.register("BTG", 3)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "brokers.json"
    registry = BrokerRegistry.load(path)
    registry.id_for("XP")
    registry.save()
    assert [p.name for p in tmp_path.iterdir()] == ["brokers.json"]
    assert not registry.dirty


def test_unreadable_registry_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "brokers.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="unreadable"):
        BrokerRegistry.load(path)


def test_saving_without_a_path_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no path"):
        BrokerRegistry().save()

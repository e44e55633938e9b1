"""The rule pack: parameters as data, lookup, pack in force, overrides."""

from __future__ import annotations

import pytest

from core.errors import InputError
from rules import PACKS, get_pack, pack_in_force
from rules.pack import KELA_TK_TV_2025
from tests.unit.rules.builders import case, d, one, rule, run


def test_pack_parameters_from_rules_md() -> None:
    """Key values of rules.md are in the pack with their source."""
    pack = get_pack("kela-tk-tv-2025")
    assert pack is KELA_TK_TV_2025
    assert pack.valid_from == d("2025-01-01")
    assert pack.value("FEEDBACK-DUE.feedback_due_days") == 14
    assert pack.value("ILLNESS-EXTENSION.illness_extension_max_days") == 14
    assert pack.value("WORKPLACE-1M.sequencing_max_days") == 21
    assert pack.value("TK-MEETINGS-MAX.max") is None
    assert pack.value("VIDEO-MEETINGS-MAX.work_trial") is None
    assert pack.value("VIDEO-MEETINGS-MAX.job_coaching") is None
    assert pack.days("DAY-QUOTA.work_trial") == 45
    assert pack.days("DAY-QUOTA.job_coaching") == 95
    assert pack.param("START-2W.days").source == "SEED"
    assert "FEEDBACK-DUE.feedback_due_days" in pack.provisional_parameters()
    assert pack.overridden_parameters() == ()


def test_unknown_pack_names_it_and_lists_known() -> None:
    """An unknown id is an InputError naming it and the known ids."""
    with pytest.raises(InputError, match=r"unknown rule pack 'nope'; known packs: kela-tk-tv-2025"):
        get_pack("nope")
    assert set(PACKS) == {"kela-tk-tv-2025"}


def test_pack_in_force() -> None:
    """The pack valid on the trigger date; the oldest pack before any start."""
    assert pack_in_force(d("2025-06-01")).id == "kela-tk-tv-2025"
    assert pack_in_force(d("2019-06-01")).id == "kela-tk-tv-2025"


def test_overrides_are_marked_and_validated() -> None:
    """An override returns a new pack and says 'override' in descriptions."""
    base = get_pack("kela-tk-tv-2025")
    pack = base.with_overrides({"TK-MEETINGS-MAX.max": 12}, by="p001")
    assert pack.value("TK-MEETINGS-MAX.max") == 12
    assert base.value("TK-MEETINGS-MAX.max") is None
    assert pack.overridden_parameters() == ("TK-MEETINGS-MAX.max",)
    assert pack.param("TK-MEETINGS-MAX.max").describe().endswith("override for provider p001")
    plain = base.with_overrides({"START-2W.days": 10})
    assert plain.param("START-2W.days").describe() == "START-2W.days = 10 (SEED, high) override"
    with pytest.raises(InputError, match="unknown parameter"):
        base.with_overrides({"NOPE.x": 1})


def test_describe_marks_provisional_and_disabled() -> None:
    """Descriptions show PROVISIONAL and disabled values."""
    pack = get_pack("kela-tk-tv-2025")
    assert pack.param("FEEDBACK-DUE.feedback_due_days").describe().endswith("PROVISIONAL")
    assert "disabled (no value)" in pack.param("TK-MEETINGS-MAX.max").describe()


def test_number_of_disabled_parameter_is_an_input_error() -> None:
    """Rules that need a value refuse a disabled one with the key named."""
    pack = get_pack("kela-tk-tv-2025").with_overrides({"START-2W.days": None})
    with pytest.raises(InputError, match=r"START-2W.days needs a value"):
        pack.days("START-2W.days")


def test_trigger_before_the_earliest_pack_is_said_and_provisional() -> None:
    """Decision 7: a 2024 decision uses kela-tk-tv-2025, marked provisional and explained."""
    early = one("2024-12-20", "START-2W", decision_received_on="2024-12-16")
    assert early.pack_id == "kela-tk-tv-2025"
    assert early.provisional == ("kela-tk-tv-2025.valid_from 2025-01-01",)
    assert (
        "pack kela-tk-tv-2025 applied to a trigger before its valid_from 2025-01-01"
        in early.explanation
    )
    in_force = one("2025-03-05", "START-2W")
    assert in_force.provisional == ()
    assert not any("before its valid_from" in line for line in in_force.explanation)


def test_trigger_before_the_pack_with_overrides_keeps_both_marks() -> None:
    """An early trigger under an operator override: both the override and the early mark."""
    deadlines = run(
        "2024-12-20",
        [case(decision_received_on="2024-12-16")],
        overrides={"START-2W.days": 10},
        provider_id="p1",
    )
    start = rule(deadlines, "START-2W")
    assert start.due_on == d("2024-12-27")
    assert start.provisional == ("kela-tk-tv-2025.valid_from 2025-01-01",)
    assert any("override for provider p1" in line for line in start.explanation)

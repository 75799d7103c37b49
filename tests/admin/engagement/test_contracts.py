"""The wire's value sets are the model's: the Literals the contracts spell out for the type
checker name the same values, in the same order, as edge.model's enums and tuples."""

from __future__ import annotations

from typing import get_args

from admin.engagement import contracts
from edge.model.events import EVENT_TYPES, VERDICTS
from edge.model.privacy import IP_MODES, UA_MODES


def test_event_types_are_the_models_in_its_order():
    assert get_args(contracts.EventType) == tuple(t.value for t in EVENT_TYPES)


def test_verdicts_are_the_models_in_its_order():
    assert get_args(contracts.Verdict) == tuple(v.value for v in VERDICTS)


def test_privacy_modes_are_the_models():
    assert get_args(contracts.IpMode) == IP_MODES == ("full", "truncated", "none")
    assert get_args(contracts.UaMode) == UA_MODES == ("full", "none")

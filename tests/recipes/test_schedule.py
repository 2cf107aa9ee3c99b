"""recipes/schedule.py's LR multiplier at exact points: warmup edges, the decay shapes at known fractions,
the wsd stable phase and its decay window, the floor, and steps past the end. Pure arithmetic (no
training), so it is fast enough to guard every mutant of the module (scripts/mutation.sh schedule)."""

from __future__ import annotations

import math

import pytest

from infir.recipes.schedule import lr_multiplier


def test_warmup_is_linear_from_one_step_and_ends_at_the_peak():
    f = lr_multiplier(20, 4, "constant", 0.1)
    assert [f(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert f(19) == f(100) == 1.0  # constant never decays, not even past the end


@pytest.mark.parametrize(
    "style, at8",
    [("linear", 0.1 + 0.9 * 0.75), ("cosine", 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))],
)
def test_decay_shapes_at_a_quarter_and_half_way_and_the_floor(style, at8):
    f = lr_multiplier(20, 4, style, 0.1)  # decay from step 4 over 16 steps
    assert f(3) == 1.0 and f(4) == 1.0  # the warmup's last step and the decay's first are the peak
    assert f(8) == pytest.approx(at8, abs=1e-12)
    assert f(12) == pytest.approx(0.55, abs=1e-12)  # half way: linear and cosine agree
    assert f(20) == pytest.approx(0.1, abs=1e-12) and f(40) == pytest.approx(0.1, abs=1e-12)  # floor, clamped


def test_decay_without_warmup_starts_at_the_peak_on_step_zero():
    f = lr_multiplier(10, 0, "linear", 0.0)
    assert f(0) == 1.0
    assert f(5) == pytest.approx(0.5, abs=1e-12)
    assert f(10) == 0.0


@pytest.mark.parametrize(
    "decay_style, at_half", [("linear", 0.55), ("cosine", 0.55), ("1-sqrt", 0.1 + 0.9 * (1 - math.sqrt(0.5)))]
)
def test_wsd_holds_the_peak_then_decays_over_decay_steps(decay_style, at_half):
    f = lr_multiplier(20, 2, "wsd", 0.1, decay_style, decay_steps=6)  # stable until step 14
    assert f(0) == 0.5 and f(1) == 1.0
    assert all(f(s) == 1.0 for s in range(2, 15))
    assert f(15) < 1.0
    assert f(17) == pytest.approx(at_half, abs=1e-12)
    assert f(20) == pytest.approx(0.1, abs=1e-12) and f(25) == pytest.approx(0.1, abs=1e-12)


def test_one_minus_sqrt_at_a_quarter():
    f = lr_multiplier(8, 0, "wsd", 0.0, "1-sqrt", decay_steps=4)  # decay from step 4 over 4 steps
    assert f(5) == pytest.approx(1 - math.sqrt(0.25), abs=1e-12)
    assert f(3) == 1.0


def test_wsd_without_decay_steps_decays_after_the_warmup_like_the_plain_shape():
    wsd = lr_multiplier(20, 4, "wsd", 0.1, "cosine")
    plain = lr_multiplier(20, 4, "cosine", 0.1)
    assert [wsd(s) for s in range(25)] == [plain(s) for s in range(25)]
    zero = lr_multiplier(20, 4, "wsd", 0.1, "cosine", decay_steps=0)  # 0 means "not set"
    assert [zero(s) for s in range(25)] == [plain(s) for s in range(25)]


def test_a_decay_window_of_zero_steps_is_one_step_long():
    f = lr_multiplier(5, 5, "linear", 0.2)  # the warmup takes every step: the decay gets one step
    assert [f(s) for s in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert f(5) == pytest.approx(0.2, abs=1e-12)
    g = lr_multiplier(10, 0, "wsd", 0.0, "linear", decay_steps=1)
    assert g(8) == 1.0 and g(9) == 1.0 and g(10) == 0.0


def test_decay_steps_only_shape_the_wsd_style():
    plain = lr_multiplier(20, 4, "cosine", 0.1)
    given = lr_multiplier(20, 4, "cosine", 0.1, "linear", decay_steps=6)  # a stray decay_steps is ignored
    assert [given(s) for s in range(22)] == [plain(s) for s in range(22)]


@pytest.mark.parametrize("style", ["linear", "wsd"])
def test_decay_length_is_total_minus_warmup(style):
    f = lr_multiplier(10, 3, style, 0.0, "linear")  # 10 - 3 = 7 decay steps (10 ^ 3 would be 9)
    assert f(3) == 1.0
    assert f(6) == pytest.approx(1 - 3 / 7, abs=1e-12)
    assert f(10) == 0.0

"""The training benchmark's arithmetic: times to a target and ratios to the reference."""

from __future__ import annotations

from digits.benchmark import Run, summarize


def curve(*points):
    return [{"epoch": i + 1, "seconds": s, "test_accuracy": a} for i, (s, a) in enumerate(points)]


def test_times_and_ratio():
    ref = Run("reference", 0, 0.991, 80.0, curve((5, 0.98), (10, 0.989), (15, 0.991), (20, 0.990)))
    fast = Run("fast", 0, 0.993, 40.0, curve((8, 0.985), (16, 0.9912), (24, 0.993)))
    table, summary = summarize([ref, fast])
    assert ref.seconds_to(0.99) == 15 and fast.seconds_to(0.99) == 16
    assert fast.seconds_to(0.999) is None
    # The reference's final accuracy (99.10 %) was first reached at 15 s; fast got there at 16 s.
    assert summary["presets"]["fast"]["ratio_to_reference"] == [16 / 15]
    assert "| fast | 0 | 99.30 | 40.0 | 16.0 | 16.0 | 1.067 |" in table


def test_each_seed_is_compared_with_the_same_seed_reference():
    refs = [
        Run("reference", 0, 0.991, 80.0, curve((10, 0.985), (20, 0.991))),
        Run("reference", 1, 0.993, 80.0, curve((10, 0.990), (20, 0.992), (30, 0.993))),
    ]
    fast = [
        Run("fast", 0, 0.992, 30.0, curve((5, 0.991), (10, 0.992))),
        Run("fast", 1, 0.992, 30.0, curve((5, 0.991), (10, 0.992))),  # never reaches seed 1's 99.30 %
        Run("fast", 2, 0.992, 30.0, curve((5, 0.991), (10, 0.992))),  # no seed-2 reference: seed 0's
    ]
    table, summary = summarize([*refs, *fast])
    assert summary["reference_final_accuracy"] == {"0": 0.991, "1": 0.993}
    assert summary["presets"]["fast"]["seconds_to_reference_final"] == [5, None, 5]
    assert summary["presets"]["fast"]["ratio_to_reference"] == [5 / 20, 5 / 20]
    # A seed that never got there leaves no ratio to average: the table says so.
    assert "| fast | 0, 1, 2 | 99.20 (99.20–99.20) | 30.0 (30.0–30.0) | 5.0 (5.0–5.0) | never | n/a |" in table
    assert "| reference | 0, 1 | 99.20 (99.10–99.30) |" in table

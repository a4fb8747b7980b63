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
    assert "| fast | 0 | 99.30 | 40.0 | 16.0 | 16.0 | 1.07 |" in table

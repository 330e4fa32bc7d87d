"""The live display of a search: readable at 80 columns, every slot shown, a rate and time left."""

from __future__ import annotations

import io

from rich.console import Console, Group

from automl._progress import RichProgress
from automl.engines import TrialOutcome, TrialSpec


def _screen(p: RichProgress, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(Group(*p.progress.get_renderables()))
    return out.getvalue().splitlines()


def _display(done: int = 0) -> RichProgress:
    p = RichProgress(Console(file=io.StringIO(), width=80), "maximize", "val_accuracy")
    p.on_search_start(20, done, [f"gpu:{g} w{g * 4 + k}" for g in range(8) for k in range(4)])
    p.progress.stop()
    return p


def test_every_slot_has_its_line_and_nothing_is_cut_at_80_columns() -> None:
    p = _display()
    spec = TrialSpec(number=12, params={}, config={}, epochs=8)
    p.on_worker("gpu:3 w13", "idle")
    p.on_trial_start(spec, "gpu:3 w13")
    p.on_epoch(spec, 3, {"val_accuracy": 0.91234})
    lines = _screen(p)
    assert all(len(line) <= 80 for line in lines)
    assert "0/20" in lines[0] and "0:00:0" in lines[0]  # the count and the time stay on the line
    slots = [line for line in lines if line.startswith("  gpu:")]
    assert len(slots) == 32  # 8 GPUs x 4 trials: every slot, not 4 of them
    assert any(line.split() == ["gpu:3", "w13", "#12", "epoch", "3/8", "val_accuracy", "0.9123"] for line in slots)
    assert sum("starting" in line for line in slots) == 31


def test_rate_and_time_left_once_trials_end() -> None:
    p = _display()
    for n in range(4):
        spec = TrialSpec(number=n, params={}, config={}, epochs=1)
        p.on_trial_start(spec, "gpu:0 w0")
        p.on_trial_end(spec, TrialOutcome("complete", value=0.5 + n / 10))
    lines = _screen(p)
    assert "4/20" in lines[0] and "/min" in lines[0] and "left" in lines[0]
    assert "4 done · 0 pruned · 0 failed · best val_accuracy 0.8000" in lines[1]
    assert "gpu:0 w0" in lines[2] and "idle" in lines[2]


def test_a_resumed_search_says_which_counts_are_this_run() -> None:
    p = _display(done=5)
    lines = _screen(p)
    assert "5/20" in lines[0] and lines[1].startswith("this run: 0 done")

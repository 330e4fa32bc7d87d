"""The coordinator loop's rules, against a scripted backend and engine (tests/runner/fakes.py):
what happens to a trial whose worker dies, hangs, is found dead, or is interrupted."""

from __future__ import annotations

import pytest

from automl.engines._base import TrialSpec
from automl.errors import AutomlError
from automl.runner._loop import LoopStats, SearchObserver, run_trials
from tests.runner.fakes import FakeBackend, FakeEngine, Step


def _steps(*steps: Step) -> list[Step]:
    return list(steps)


OK = _steps(("epoch", {"acc": 0.5}), ("epoch", {"acc": 0.6}), ("done", "complete"))


def _each_asked_told_once(engine: FakeEngine) -> None:
    assert sorted(s.number for s, _ in engine.told) == [s.number for s in engine.asked]


@pytest.mark.parametrize("concurrent", [False, True])
def test_the_budget_is_run_across_the_slots_and_each_trial_is_told_once(concurrent: bool) -> None:
    engine, backend = FakeEngine(), FakeBackend(n_slots=3, concurrent=concurrent)
    stats = LoopStats()
    ran = run_trials(engine, backend, n_trials=7, stats=stats)
    assert ran == 7 and engine.claimed == 7 and stats.trials == 7
    assert set(engine.states().values()) == {"complete"}
    assert {slot for slot, _ in backend.started} == {0, 1, 2}
    # every epoch was reported to the engine and answered
    assert sorted(engine.reports) == sorted((n, e) for n in range(7) for e in range(2))
    _each_asked_told_once(engine)
    # workers left idle by the last trials were let go as those ran; then all were closed
    assert backend.retired and set(backend.retired) < {0, 1, 2} and backend.closed


def test_a_worker_dying_mid_trial_fails_it_and_its_retry_reaches_the_count() -> None:
    def script(spec: TrialSpec) -> list[Step]:
        return _steps(("epoch", {"acc": 0.5}), ("die", "worker died: killed by SIGKILL")) if spec.number == 1 else OK

    engine, backend = FakeEngine(), FakeBackend(n_slots=2, script=script)
    assert run_trials(engine, backend, n_trials=4) == 5
    assert engine.states()[1] == "failed" and engine.errors()[1] == "worker died: killed by SIGKILL"
    [retry] = [s for s in engine.asked if s.number > 1 and s.params == engine.asked[1].params]
    assert engine.states()[retry.number] == "complete"
    assert list(engine.states().values()).count("complete") == 4 and engine.claimed == 4  # the retry used no unit
    assert [o.retryable for s, o in engine.told if s.number == 1] == [True]
    _each_asked_told_once(engine)


def test_a_retry_that_dies_again_is_not_retried_a_second_time() -> None:
    def script(spec: TrialSpec) -> list[Step]:
        return _steps(("die", "worker died: exit code 1")) if spec.params["x"] == 0 else OK

    engine = FakeEngine()
    run_trials(engine, FakeBackend(n_slots=1, script=script), n_trials=2)
    assert [engine.states()[s.number] for s in engine.asked if s.params["x"] == 0] == ["failed", "failed"]
    assert len(engine.asked) == 3  # the original, its one retry, and the second trial
    _each_asked_told_once(engine)


def test_a_trial_past_its_time_limit_is_stopped_failed_and_not_retried() -> None:
    def script(spec: TrialSpec) -> list[Step]:
        return _steps(("epoch", {"acc": 0.5}), ("hang", None)) if spec.number == 0 else OK

    engine, backend = FakeEngine(), FakeBackend(n_slots=1, script=script)
    assert run_trials(engine, backend, n_trials=3, trial_timeout=0.5) == 3
    assert backend.aborted == [0]
    assert engine.states() == {0: "failed", 1: "complete", 2: "complete"}
    assert engine.errors()[0] == "timed out after 0.5 s" and not engine.retries
    assert [n for _, n in backend.started] == [0, 1, 2]  # the slot's fresh worker ran the rest


def test_a_worker_found_dead_when_sent_a_trial_passes_it_to_the_next_ready_one() -> None:
    engine, backend = FakeEngine(), FakeBackend(n_slots=1, dead_when_sent={1})
    assert run_trials(engine, backend, n_trials=3) == 3
    assert engine.states() == {0: "complete", 1: "complete", 2: "complete"}
    assert [n for _, n in backend.started] == [0, 1, 2]


def test_workers_failing_to_start_stop_the_search_only_when_in_a_row() -> None:
    # two failures, a good start, two failures, a good start: the search goes on
    backend = FakeBackend(n_slots=1, starts={0: ["die", "die", "ok"]}, replace_after={0})
    backend_starts = backend.starts
    engine = FakeEngine()

    def script(spec: TrialSpec) -> list[Step]:
        if spec.number == 0:
            backend_starts[0] = ["die", "die", "ok"]  # the replacement after trial 0 fails twice too
        return OK

    backend.script = script
    assert run_trials(engine, backend, n_trials=2, max_start_failures=2) == 2
    assert set(engine.states().values()) == {"complete"}
    # three in a row stop it, saying what to check, and nothing is left running
    engine = FakeEngine()
    with pytest.raises(AutomlError, match=r"keep dying before their first trial \(worker died: exit code 3\).*"
                                          r"check the guard"):
        run_trials(engine, FakeBackend(n_slots=1, starts={0: ["die"] * 3}), n_trials=2, max_start_failures=2)
    assert not engine.asked


def test_a_worker_replaced_after_its_trial_gets_no_trial_until_it_is_ready() -> None:
    engine, backend = FakeEngine(), FakeBackend(n_slots=1, replace_after={0, 1})
    assert run_trials(engine, backend, n_trials=3) == 3  # the fake asserts no trial goes to a booting slot
    assert set(engine.states().values()) == {"complete"}


def test_a_pruned_epoch_is_answered_and_the_trial_ends_pruned() -> None:
    engine, backend = FakeEngine(prune_at={(1, 0)}), FakeBackend(n_slots=2)
    run_trials(engine, backend, n_trials=3)
    assert engine.states() == {0: "complete", 1: "pruned", 2: "complete"}
    assert [d for n, _, d in backend.decisions if n == 1] == ["prune"]


@pytest.mark.parametrize("how", ["interrupt", "fatal"])
def test_an_interrupt_or_a_fatal_worker_leaves_nothing_running(how: str) -> None:
    def script(spec: TrialSpec) -> list[Step]:
        if spec.number == 2:
            return _steps(("epoch", {"acc": 0.5}), (how, "worker on cpu could not start: ImportError: x"))
        return _steps(*[("epoch", {"acc": 0.5})] * 20, ("done", "complete"))

    engine, backend = FakeEngine(), FakeBackend(n_slots=3, script=script)
    with pytest.raises(KeyboardInterrupt if how == "interrupt" else AutomlError):
        run_trials(engine, backend, n_trials=10)
    assert sorted(engine.states()) == [0, 1, 2] and set(engine.states().values()) == {"failed"}
    assert set(engine.errors().values()) == {"interrupted: the search stopped"}
    assert backend.closed
    _each_asked_told_once(engine)


def test_a_failed_draw_is_told_without_running_and_the_search_goes_on() -> None:
    engine, backend = FakeEngine(), FakeBackend(n_slots=1)
    engine.draw_error[1] = "ValueError: build_model raised"
    assert run_trials(engine, backend, n_trials=3) == 3
    assert engine.states() == {0: "complete", 1: "failed", 2: "complete"}
    assert [n for _, n in backend.started] == [0, 2]


def test_the_search_timeout_stops_new_trials_and_lets_the_running_ones_finish() -> None:
    long = _steps(*[("wait", 0.05)] * 20, ("done", "complete"))  # a second each
    engine = FakeEngine()
    backend = FakeBackend(n_slots=2, script=lambda spec: list(long), concurrent=False)
    assert run_trials(engine, backend, n_trials=100, timeout=0.3) == 2
    assert engine.states() == {0: "complete", 1: "complete"}


def test_an_engine_with_nothing_left_ends_the_search_early() -> None:
    engine = FakeEngine(max_asks=2)
    assert run_trials(engine, FakeBackend(n_slots=2), n_trials=5) == 2
    assert engine.claimed == 2  # the unit of the ask that proposed nothing was given back


def test_observers_see_workers_trials_and_epochs_in_order() -> None:
    seen: list[str] = []

    class Watch(SearchObserver):
        def on_search_start(self, total: int, done: int, slots: list[str] | None = None) -> None:
            seen.append(f"start {total} {slots}")

        def on_worker(self, slot: str, state: str) -> None:
            seen.append(f"{slot} {state}")

        def on_trial_start(self, spec: TrialSpec, slot: str = "") -> None:
            seen.append(f"trial {spec.number} on {slot}")

        def on_epoch(self, spec: TrialSpec, epoch: int, metrics: dict[str, float]) -> None:
            seen.append(f"trial {spec.number} epoch {epoch}")

        def on_trial_end(self, spec: TrialSpec, outcome: object) -> None:
            seen.append(f"trial {spec.number} end")

    run_trials(FakeEngine(), FakeBackend(n_slots=1), n_trials=1, observer=Watch())
    assert seen == ["start 1 ['cpu w0']", "cpu w0 idle", "trial 0 on cpu w0", "trial 0 epoch 0", "trial 0 epoch 1",
                    "trial 0 end"]


def _arch(units: int, rate: float, lr: float) -> dict[str, object]:
    return {"layers": [{"type": "dense", "units": units}, {"type": "dropout", "rate": rate}],
            "optimizer": {"name": "adam", "learning_rate": lr}, "batch_size": 32}


def test_a_trial_goes_to_an_idle_worker_that_ran_its_architecture() -> None:
    """Affinity (issue 23): trials 0 and 1 end together, both workers idle; trial 2 has trial
    1's architecture (another dropout rate and learning rate) and goes to trial 1's worker,
    trial 3 (trial 0's) to trial 0's, although each other was idle longer."""
    configs = {0: _arch(8, 0.1, 1e-3), 1: _arch(16, 0.2, 1e-2), 2: _arch(16, 0.4, 3e-3), 3: _arch(8, 0.3, 1e-4)}
    engine, backend = FakeEngine(configs=configs), FakeBackend(n_slots=2, concurrent=False)
    run_trials(engine, backend, n_trials=4)
    slot_of = {number: slot for slot, number in backend.started}
    assert slot_of[0] != slot_of[1]
    assert slot_of[2] == slot_of[1] and slot_of[3] == slot_of[0], backend.started
    # without a shared architecture, the slot idle longest is taken (nothing waits)
    plain = FakeBackend(n_slots=2, concurrent=False)
    run_trials(FakeEngine(), plain, n_trials=4)
    assert [s for s, _ in plain.started] == [0, 1, 0, 1]

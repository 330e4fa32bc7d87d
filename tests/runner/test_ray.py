"""The Ray backend on a real local Ray cluster: several nodes on this machine, each with
logical GPUs, so that placement is checked without a GPU."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import optuna
import pytest

import automl
from automl.engines import ATTR
from automl.engines._record import state_of
from automl.errors import UsageError

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster() -> Iterator[Any]:
    """A head that runs nothing (no CPU for actors) and two nodes with one logical GPU each."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False})
    c.nodes = [c.add_node(num_cpus=2, num_gpus=1) for _ in range(2)]  # type: ignore[attr-defined]
    c.wait_for_nodes()
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


def _space(tiny_space: dict[str, Any], epochs: int) -> dict[str, Any]:
    return dict(tiny_space, training={"batch_size": 64, "epochs": epochs, "metrics": ["accuracy"]})


def test_a_search_runs_on_actors_across_the_nodes_two_per_gpu(tiny_space: dict[str, Any], store: str,
                                                              cluster: Any) -> None:
    r = automl.search(_space(tiny_space, 2), "digits", n_trials=8, storage=store, study_name="ray",
                      cluster=cluster.address, trials_per_gpu=2, pruner="median", seed=0)
    assert r.ran == 8 and r.count("COMPLETE") + r.count("PRUNED") == 8
    trials = optuna.load_study(study_name="ray", storage=store).trials
    devices = {state_of(t, "device") for t in trials}
    # each actor asked for half a GPU: two per logical GPU, on both nodes (a node's only GPU is gpu:0)
    nodes = {d.split("@")[1] for d in devices}
    assert {d.split("@")[0] for d in devices} == {"gpu:0"} and len(nodes) == 2, devices
    assert all(len(t.intermediate_values) >= 1 for t in trials)  # epochs streamed to the coordinator
    assert not ray.is_initialized()  # the search disconnected from the cluster it joined


def test_a_node_lost_mid_search_fails_its_trials_and_they_are_retried_elsewhere(
        tiny_space: dict[str, Any], store: str, cluster: Any) -> None:
    lost: list[str] = []

    def kill_a_node_once_trials_run() -> None:
        deadline = time.monotonic() + 240
        path = store.removeprefix("sqlite:///")
        while time.monotonic() < deadline:
            try:  # read with sqlite3: Optuna would create its tables, racing the search that does
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
                    states = [s for (s,) in con.execute("SELECT state FROM trials")]
            except sqlite3.Error:
                time.sleep(0.5)
                continue
            if "COMPLETE" in states and states.count("RUNNING") >= 3:  # both nodes are training
                # not the node this process's driver joined (on one host Ray may pick any): the
                # coordinator's node is not the one a cluster loses
                here = ray.get_runtime_context().get_node_id()
                node = next(n for n in cluster.nodes if n.node_id != here)
                cluster.remove_node(node, allow_graceful=False)
                lost.append(node.node_id)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_node_once_trials_run, daemon=True)
    killer.start()
    r = automl.search(_space(tiny_space, 6), "digits", n_trials=8, storage=store, study_name="lost",
                      cluster=cluster.address, trials_per_gpu=2, seed=0)
    killer.join(timeout=5)
    assert lost, "the node was never removed: no moment with both nodes training"
    trials = optuna.load_study(study_name="lost", storage=store).trials
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    # Each failed as lost, with its worker or with the epoch queue when the lost node held it
    # (trials there once failed with Ray's raw "ActorUnavailableError: ... RpcError" and were
    # counted as their own failures).
    reasons = ("its Ray actor was lost", "its epoch queue was lost")
    assert failed and all(any(r in t.user_attrs[f"{ATTR}error"] for r in reasons) for t in failed), \
        [t.user_attrs[f"{ATTR}error"] for t in failed]
    # the requested count is reached; each failed trial ran again once, with its values, elsewhere
    assert len(complete) == 8 and r.ran == len(trials)
    for t in failed:
        [retry] = [u for u in trials if u.system_attrs.get("failed_trial") == t.number]
        assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == t.params
        assert state_of(retry, "device").split("@")[1] != lost[0][:8]
    assert len({t.number for t in trials}) == len(trials)


def test_a_lost_epoch_queue_is_replaced_and_its_trials_run_again(
        tiny_space: dict[str, Any], store: str, cluster: Any) -> None:
    """A CI run crashed the search: removing a node reset the connection to the epoch queue
    (``ActorUnavailableError``) and ``_epochs`` let it escape. Killing the queue outright is
    the worst case of that: the search must replace it and end as asked."""
    killed: list[str] = []

    def kill_the_queue_once_trials_run() -> None:
        deadline = time.monotonic() + 240
        path = store.removeprefix("sqlite:///")
        while time.monotonic() < deadline:
            try:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
                    states = [s for (s,) in con.execute("SELECT state FROM trials")]
            except sqlite3.Error:
                time.sleep(0.5)
                continue
            if "COMPLETE" in states and states.count("RUNNING") >= 2:
                [named] = [a for a in ray.util.list_named_actors(all_namespaces=True)
                           if a["name"].startswith("automl-epochs-")]
                ray.kill(ray.get_actor(named["name"], namespace=named["namespace"]))
                killed.append(named["name"])
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_the_queue_once_trials_run, daemon=True)
    killer.start()
    r = automl.search(_space(tiny_space, 6), "digits", n_trials=8, storage=store, study_name="queue",
                      cluster=cluster.address, trials_per_gpu=2, seed=0)
    killer.join(timeout=5)
    assert killed, "the queue was never killed: no moment with two trials running"
    trials = optuna.load_study(study_name="queue", storage=store).trials
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("its epoch queue was lost" in t.user_attrs[f"{ATTR}error"] for t in failed)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 8 and r.ran == len(trials)
    for t in failed:
        [retry] = [u for u in trials if u.system_attrs.get("failed_trial") == t.number]
        assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == t.params


def test_an_epoch_queue_unreachable_for_a_moment_is_waited_for_then_replaced(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The outage the CI run hit, scripted: the queue answers ``ActorUnavailableError``."""
    from automl.runner import _ray as backend_module

    class Unreachable:
        actor = None

        def size(self) -> int:
            raise ray.exceptions.ActorUnavailableError("RpcError: Connection reset by peer", None)

    b = object.__new__(backend_module.RayBackend)
    b.ray, b.events_queue, b.actors, b.queue, b._queue_down_since = ray, Unreachable(), {}, [], None
    replacement = object()
    monkeypatch.setattr(b, "_new_queue", lambda: replacement)
    b._epochs(lambda *a: None)  # type: ignore[arg-type,return-value]
    assert isinstance(b.events_queue, Unreachable) and b._queue_down_since is not None and not b.queue
    b._queue_down_since -= backend_module._QUEUE_PATIENCE + 1
    b._epochs(lambda *a: None)  # type: ignore[arg-type,return-value]
    assert b.events_queue is replacement and b._queue_down_since is None


def test_without_ray_installed_the_flag_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    from automl.runner._ray import connect

    with pytest.raises(UsageError, match=r"pip install 'automl\[ray\]'"):
        connect("auto")


def test_slots_come_from_the_cluster_resources() -> None:
    from automl.runner._ray import ray_slots

    assert ray_slots({"GPU": 2.0, "CPU": 8.0}, 2, None) == (4, 0.5)
    assert ray_slots({"GPU": 2.0, "CPU": 8.0}, "auto", 3) == (3, 0.25)
    assert ray_slots({"CPU": 6.0}, "auto", None) == (6, 0.0)
    assert ray_slots({"GPU": 5.0, "CPU": 8.0}, "auto", None, gpus_per_trial=2) == (2, 2.0)  # whole GPUs
    with pytest.raises(UsageError, match="needs 4 GPUs on one node; the Ray cluster's nodes have 2"):
        ray_slots({"GPU": 2.0}, "auto", None, gpus_per_trial=4)
    # an actor's GPUs are on one node: four nodes of one GPU hold no 2-GPU actor
    with pytest.raises(UsageError, match="nodes have 1, 1, 1, 1"):
        ray_slots({"GPU": 4.0}, "auto", None, gpus_per_trial=2, node_gpus=[1.0] * 4)
    assert ray_slots({"GPU": 5.0}, "auto", None, gpus_per_trial=2, node_gpus=[2.0, 3.0]) == (2, 2.0)

"""Trial weights in Optuna's artifact store, linked from their trials, so that any host that
reaches the store and the artifact folder can export, evaluate, predict and continue a
trial (the host's cache keeps a local copy; optuna-dashboard lists them).

The process that trained a trial writes its weights (it has the file, wherever it runs);
the coordinator links them to the trial when it records the outcome.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl._logging import get_logger
from automl.errors import UsageError

__all__ = ["TrialWeights", "artifact_location", "dashboard_artifacts", "default_location", "fetch_artifact",
           "fetch_weights", "here", "open_artifacts", "put_weights", "remove_artifacts", "weights_meta"]

_log = get_logger("storage")

ENV = "AUTOML_ARTIFACTS"
"""Where the artifacts are on this host, when not where the study recorded them (another mount)."""


def default_location(url: str) -> str | None:
    """Beside a SQLite file (``automl.db`` → ``automl-artifacts/``); none for a server store,
    whose hosts share no folder that automl could guess."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    db = Path(u.database).expanduser().resolve()
    return str(db.with_name(f"{db.stem}-artifacts"))


def _check(location: str) -> str:
    if "://" in location:
        raise UsageError(f"artifacts at {location}: only a folder is supported (a path every host reaches, such as "
                         f"a shared filesystem); object stores are not yet")
    return str(Path(location).expanduser().resolve())


def artifact_location(given: str | None, url: str, recorded: str | None = None) -> str | None:
    """Where a study's weights go, as the study records it: ``given`` (``--artifacts``), else
    what it recorded, else beside a SQLite store; None: the host cache only."""
    return _check(given) if given else recorded or default_location(url)


def here(location: str | None) -> str | None:
    """Where the artifact folder ``location`` is on this host: ``$AUTOML_ARTIFACTS`` when set
    (the folder mounted elsewhere); None when the study has none."""
    env = os.environ.get(ENV)
    return None if location is None else _check(env) if env else location


def open_artifacts(location: str, create: bool = False) -> Any:
    """The artifact store in folder ``location``: made only by the coordinator (``create``);
    a process that finds it missing is on a host that does not mount it."""
    import optuna

    if create:
        Path(location).mkdir(parents=True, exist_ok=True)
    elif not Path(location).is_dir():
        raise FileNotFoundError(f"the artifact folder {location} does not exist on {socket.gethostname()}: "
                                f"mount it there, or set {ENV} to where it is mounted")
    return optuna.artifacts.FileSystemArtifactStore(location)


def put_weights(location: str | None, artifact_id: str, path: str) -> str | None:
    """Copy the weights file at ``path`` into the artifact store (in the process that
    trained them); the reason when that failed (the trial keeps its result)."""
    if location is None:
        return None
    try:
        store = open_artifacts(location)
        with open(path, "rb") as f:
            store.write(artifact_id, f)
    except OSError as e:
        _log.warning("the weights were not put in the artifact store: %s", e)
        return f"its weights could not be put in the artifact store {location}: {e}"
    return None


def fetch_artifact(location: str | None, artifact_id: str, dest: Path) -> None:
    """Copy artifact ``artifact_id`` to ``dest`` through a ``.part`` file, so that a copy cut
    short is never taken for the weights."""
    import optuna

    if location is None:
        raise FileNotFoundError(f"artifact {artifact_id}: the study has no artifact store")
    store = open_artifacts(location)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    try:
        optuna.artifacts.download_artifact(artifact_store=store, file_path=str(part), artifact_id=artifact_id)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)


@dataclass
class TrialWeights:
    """Where one study's trials keep their weights: the host's cache folder, and the
    artifact store when there is one."""

    folder: Path
    location: str | None = None

    def attach(self, spec: Any, parent: Any | None = None) -> str | None:
        """Give ``spec`` its checkpoint paths (and an artifact id to write its weights as);
        ``parent`` (a FrozenTrial) is the trial it continues. The reason when the
        parent's weights are nowhere to be found."""
        spec.checkpoint = str(self.folder / f"trial_{spec.number}.weights.h5")
        if self.location is not None:
            spec.artifacts, spec.artifact_id = self.location, str(uuid.uuid4())
        if parent is None:
            return None
        spec.parent_checkpoint = str(self.folder / f"trial_{parent.number}.weights.h5")
        if Path(spec.parent_checkpoint).is_file():
            return None
        meta = weights_meta(parent) if self.location is not None else None
        if meta is None:
            return f"the checkpoint of parent trial {parent.number} is missing ({spec.parent_checkpoint})"
        spec.parent_artifact_id = meta.artifact_id
        return None


def weights_meta(trial: Any) -> Any | None:
    """The artifact holding a finished ``trial``'s weights, if it was linked."""
    from automl.storage._optuna_private import artifact_metas

    name = f"trial_{trial.number}.weights.h5"
    return next((m for m in artifact_metas(trial) if m.filename == name), None)


def fetch_weights(trial: Any, location: str | None, dest: Path) -> bool:
    """Copy a trial's weights from the artifact store to ``dest`` (the local copy); False
    when it has none there."""
    import optuna

    meta = weights_meta(trial) if location is not None else None
    if meta is None or location is None:
        return False
    try:
        fetch_artifact(location, meta.artifact_id, dest)
    except optuna.artifacts.exceptions.ArtifactNotFound as e:
        raise UsageError(f"the weights of trial {trial.number} are linked as artifact {meta.artifact_id} but are "
                         f"not in {location} ({e}); set {ENV} to where that folder is on this host, or "
                         f"`automl export --retrain` trains its configuration again") from e
    except FileNotFoundError as e:  # the folder is not here
        raise UsageError(f"the weights of trial {trial.number}: {e}; or `automl export --retrain` trains its "
                         f"configuration again") from e
    except OSError as e:  # writing the local copy
        raise UsageError(f"the weights of trial {trial.number} could not be copied to {dest}: {e}") from e
    _log.info("trial %d's weights copied from the artifact store %s", trial.number, location)
    return True


def dashboard_artifacts(storage: Any, url: str) -> tuple[Any | None, str | None]:
    """The artifact store the studies of ``storage`` recorded, for optuna-dashboard to list
    trial weights (one store per dashboard: the first recorded, else the default)."""
    from automl._keys import attr

    key = attr("study", "artifacts", system=True)
    recorded = sorted({s.system_attrs[key] for s in storage.get_all_studies() if key in s.system_attrs})
    if len(recorded) > 1:
        _log.warning("the studies keep their weights in %d artifact stores; the dashboard lists those in %s",
                     len(recorded), recorded[0])
    location = here(recorded[0] if recorded else default_location(url))
    if location is None or not Path(location).is_dir():
        return None, None
    return open_artifacts(location), location


def remove_artifacts(trials: list[Any], location: str | None) -> int:
    """Remove every linked artifact of ``trials`` from the store at ``location``; how many."""
    from automl.storage._optuna_private import artifact_metas

    if location is None or not Path(location).is_dir():
        return 0
    store, n = open_artifacts(location), 0  # the folder is there: checked above
    for t in trials:
        for meta in artifact_metas(t):
            try:
                store.remove(meta.artifact_id)
                n += 1
            except Exception as e:  # noqa: BLE001 - already gone: nothing to remove
                _log.debug("artifact %s: %s", meta.artifact_id, e)
    return n

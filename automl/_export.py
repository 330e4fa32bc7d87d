"""The model of a trial, rebuilt from the store: exported as ``.keras``, or scored on the test split."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl._logging import get_logger
from automl._paths import checkpoint_dir
from automl._keys import ATTR, attr
from automl.engines._record import epochs_of, state_of, study_state
from automl.errors import UsageError
from automl.storage._artifacts import fetch_weights, here

__all__ = ["trial_model", "export_model", "evaluate_model", "EpochProgress", "preprocessing", "preprocessing_path"]

EpochProgress = Callable[[int, int, dict[str, float]], None]
"""Called after each retraining epoch with (epoch, epochs, that epoch's metrics)."""

_log = get_logger("export")


def _pick(study: Any, number: int | None) -> Any:
    import optuna

    if number is None:
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            raise UsageError(f"study {study.study_name!r} has no complete trial")
        return study.best_trial
    matches = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not matches:
        raise UsageError(f"study {study.study_name!r} has no trial {number}")
    if matches[0].state != optuna.trial.TrialState.COMPLETE:
        raise UsageError(f"trial {number} is {matches[0].state.name}, not COMPLETE")
    return matches[0]


def retrain_epochs(config: dict[str, Any], trial: Any) -> int:
    """Epochs to train a trial's configuration again without a validation split: as many as
    the trial trained to the weights it kept (early stopping's best epoch when it restored
    them; early stopping itself needs the validation split), else its configuration's."""
    from automl.engines._record import history_of

    stopped = trial.user_attrs.get(f"{ATTR}stopped_early")
    es = config.get("early_stopping") or {}
    if stopped and es.get("restore_best_weights", True) and trial.values:
        for series in history_of(trial).values():
            if isinstance(series, list) and trial.values[0] in series:
                return series.index(trial.values[0]) + 1
    return int(epochs_of(trial) if stopped else (config.get("epochs") or epochs_of(trial)))


def trial_model(study: Any, url: str, number: int | None = None, *, retrain: bool = False,
                backend: str | None = None, on_epoch: EpochProgress | None = None) -> tuple[Any, Any, Any]:
    """(model, trial, dataset or None): the trial's model with its kept weights, or retrained
    on train + validation with ``retrain`` (``on_epoch`` is told of each epoch)."""
    from automl.data import data_from_description
    from automl.model import build_model, import_keras, seed_everything
    from automl.runner._executor import steps_per_epoch
    from automl.runner._feed import feed
    from automl.space import FixedHP, Space, space_from_definition

    keras = import_keras(backend)
    trial = _pick(study, number)
    space = space_from_definition(study.user_attrs[f"{ATTR}space"])
    desc = study.user_attrs[f"{ATTR}data"]
    config = state_of(trial, "config") or {}
    seed_everything(keras, trial.number)
    data = x = y = None
    batch_size = int(config.get("batch_size", 32))
    if retrain:
        import numpy as np

        from automl.data._mapped import join

        data = data_from_description(desc)
        x = join(data.x_train, data.x_val)  # a mapped file's samples stay in it, read batch by batch
        y = np.concatenate([data.y_train, data.y_val])
    if isinstance(space, Space):
        # Retrained, the learning-rate schedule runs as in the trial, over the larger data's steps.
        steps = steps_per_epoch(keras, len(x), batch_size) if x is not None else None
        model = build_model(config, tuple(desc["input_shape"]), int(desc["num_classes"]), steps_per_epoch=steps)
    else:
        model = space.build_model(FixedHP(trial.params))
        if not getattr(model, "compiled", False):
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if retrain:
        assert x is not None and y is not None
        epochs = retrain_epochs(config, trial)
        _log.info("retraining trial %d on %d samples for %d epochs", trial.number, len(y), epochs)
        if (config.get("schedule") or {}).get("type") == "plateau":
            _log.warning("retraining without a validation split: the reduce-on-plateau schedule is not replayed "
                         "(the learning rate stays at its start)")
        callbacks = []
        if on_epoch is not None:
            def report(epoch: int, logs: dict[str, Any] | None) -> None:
                on_epoch(epoch + 1, epochs, {k: float(v) for k, v in (logs or {}).items()})

            callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=report))
        model.fit(**feed(keras, x, y, batch_size, seed=trial.number), epochs=epochs, verbose=0, callbacks=callbacks)
        return model, trial, data
    weights = checkpoint_dir(url, study.study_name, create=False) / f"trial_{trial.number}.weights.h5"
    if not weights.is_file() and not fetch_weights(trial, here(study_state(study, "artifacts")), weights):
        why = trial.user_attrs.get(attr("trial", "warning"))
        raise UsageError(f"no saved weights for trial {trial.number} (not in {weights} nor in an artifact store"
                         f"{'; ' + why if why else ''}); `automl export --retrain` trains its configuration again")
    with warnings.catch_warnings():
        # The optimizer's saved state is not needed to predict or to export (Keras warns).
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(weights)
    return model, trial, data


def export_model(study: Any, url: str, out: Path, number: int | None = None, *, retrain: bool = False,
                 backend: str | None = None, on_epoch: EpochProgress | None = None) -> Any:
    """Write the trial's model to ``out`` (``.keras``) and, for a table, its preprocessing
    stage beside it (:func:`preprocessing_path`); returns the trial."""
    if out.suffix != ".keras":
        raise UsageError(f"the output must end in .keras (got {out.name})")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    from automl.data._dataset import input_divisor

    model, trial, _ = trial_model(study, url, number, retrain=retrain, backend=backend, on_epoch=on_epoch)
    _plain_compile(model, state_of(trial, "config") or {})
    divisor = input_divisor(study.user_attrs[f"{ATTR}data"])
    if divisor:
        # The data path divided the samples (pixels by 255): the file takes them as their source holds them.
        model = _scaled_input(model, 1.0 / divisor)
    model.save(out)
    table = study.user_attrs[f"{ATTR}data"].get("table")
    if table:
        preprocessing_path(out).write_text(json.dumps(preprocessing(study.user_attrs[f"{ATTR}data"]), indent=1))
    return trial


def _scaled_input(model: Any, factor: float) -> Any:
    """The trial's model behind a ``Rescaling(factor)`` named ``input_scale``, compiled as
    it is, so that it takes samples scaled otherwise than the study's data path scaled them."""
    from automl.model import import_keras

    keras = import_keras()
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), name="samples")
    scaled = keras.layers.Rescaling(factor, name="input_scale")(inputs)
    wrapped = keras.Model(inputs, model(scaled), name=model.name)
    compiled = model.get_compile_config()
    if compiled:
        wrapped.compile_from_config(compiled)
    return wrapped


def preprocessing_path(model_path: Path) -> Path:
    """Where the preprocessing stage of an exported table model lies: ``NAME.preprocessing.json``."""
    return model_path.with_name(model_path.stem + ".preprocessing.json")


def preprocessing(desc: dict[str, Any]) -> dict[str, Any]:
    """A table model's preprocessing stage, written beside the ``.keras`` file: the raw
    columns' encoding (docs/data.md, "Tables"), the names of the encoded columns the model
    takes, and the names of its outputs."""
    from automl.data._table import encoded_columns

    table = desc["table"]
    return {"format": "automl.table/1", "columns": table["columns"], "ignored": table.get("ignored", []),
            "encoded_columns": encoded_columns(table), "label_columns": desc.get("label_columns"),
            "task": desc.get("task", "classification"), "class_names": desc.get("class_names")}


def _plain_compile(model: Any, config: dict[str, Any]) -> None:
    """Compile a trial's model with Keras's own loss (the regression loss in the targets'
    units, cross-entropy without automl's smoothing class) so that plain
    ``keras.saving.load_model`` reads the file; the weights, and so the predictions, are
    the trial's."""
    if not config.get("head") and not config.get("label_smoothing"):
        return
    from automl.model._training import build_loss, build_metrics, build_optimizer

    model.compile(optimizer=build_optimizer(config["optimizer"]), loss=build_loss(config, plain=True),
                  metrics=build_metrics(config))


def evaluate_model(study: Any, url: str, data_spec: str | None, number: int | None = None, *,
                   backend: str | None = None) -> dict[str, Any]:
    """Score a trial's kept model on the held-out test split (never seen by the search):
    the loss and the task's metrics (regression's MAE and RMSE in the targets' units)."""
    from automl.data import data_from_description
    from automl.data._dataset import input_divisor
    from automl.model import import_keras
    from automl.runner._feed import feed

    model, trial, _ = trial_model(study, url, number, backend=backend)
    desc = study.user_attrs[f"{ATTR}data"]
    # Other data is read as the study's was: its task, label column, splits and class names.
    data = data_from_description(desc, data_spec)
    if data.x_test is None or data.y_test is None:
        raise UsageError("the data has no test split: give data with x_test/y_test, or search with --test-split")
    # ...and its samples, read as their source holds them (a .npz of raw pixels, a folder
    # divided by its loader), are scaled as the study's were.
    factor = (input_divisor(data.describe()) or 1.0) / (input_divisor(desc) or 1.0)
    if factor != 1.0:
        model = _scaled_input(model, factor)
    scores = model.evaluate(**feed(import_keras(), data.x_test, data.y_test, 32), verbose=0, return_dict=True)
    return {"study": study.study_name, "trial": trial.number, "task": data.task, "test_samples": len(data.y_test),
            **{k: float(v) for k, v in scores.items()}}

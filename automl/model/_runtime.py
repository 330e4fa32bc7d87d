"""Hyperparameters that leave shapes alone, as runtime values instead of program constants.

Keras bakes a ``Dropout`` rate and an optimizer's momentum, betas, epsilon and weight decay
into the compiled program as Python floats: on JAX two trials that differ only in those
compile their own programs. Here they are non-trainable variables, which JAX passes to the
program as arguments, so trials of one architecture run the same programs (the persistent
compilation cache serves them across model objects and processes). Results equal Keras's
own classes': the same random masks, the same update rules (within float rounding).

The variables are configuration, not state: they are left out of saved weights, and each
class has its Keras class's name (a weights file's paths are class names), so a trial's
weights file and a model built with Keras's own classes load each other's. A whole saved
model names these classes (registered with Keras as ``automl>Dropout`` and so on), so a
model meant for plain ``keras.saving.load_model`` is built without them (``build_model``'s
default).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from typing import Any

from automl.model._backend import import_keras

__all__ = ["RUNTIME_COEFFICIENTS", "architecture_key", "runtime_attention_class", "runtime_dropout_class",
           "runtime_optimizer_class"]

# The coefficients of each Keras optimizer that become variables; ``weight_decay`` too
# wherever it is given. A momentum of 0 stays a constant: it decides whether the
# optimizer has momentum slots at all.
RUNTIME_COEFFICIENTS: dict[str, tuple[str, ...]] = {
    "Adam": ("beta_1", "beta_2", "epsilon"),
    "AdamW": ("beta_1", "beta_2", "epsilon"),
    "Adamax": ("beta_1", "beta_2", "epsilon"),
    "Nadam": ("beta_1", "beta_2", "epsilon"),
    "Adagrad": ("epsilon",),
    "RMSprop": ("rho", "momentum", "epsilon"),
    "SGD": ("momentum",),
}

_RUNTIME_NAMES = frozenset(c for cs in RUNTIME_COEFFICIENTS.values() for c in cs) | {"weight_decay"}


def architecture_key(config: dict[str, Any]) -> str | None:
    """What decides a YAML trial's compiled programs, as text: its configuration without the
    values that are runtime values (dropout rates, the learning rate, the optimizer's
    coefficients: only whether they are 0 counts) nor the epochs. Trials of one key run the
    same programs; the coordinator sends a trial to a worker that last ran its key. None
    for a space's own ``build_model`` (no configuration to read)."""
    import json

    if "layers" not in config:
        return None

    def strip(obj: Any, key: str = "") -> Any:
        if isinstance(obj, dict):
            return {k: strip(v, k) for k, v in sorted(obj.items()) if k not in ("learning_rate", "epochs")}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        if (key == "rate" or key in _RUNTIME_NAMES) and isinstance(obj, (int, float)):
            return obj != 0  # a rate or momentum of 0 is another program
        return obj

    return json.dumps(strip(config), sort_keys=True, default=str)


@functools.cache
def runtime_dropout_class() -> type:
    """``keras.layers.Dropout`` whose keep probability (1 - rate) is a variable on JAX.

    On JAX the mask is drawn as ``keras.random.dropout`` draws it there (a uniform sample
    from the layer's seed generator below the keep probability, kept values scaled by its
    inverse), so the masks are Keras's; on other backends the layer is Keras's Dropout
    (nothing there compiles a program across models). A rate of 0 is Keras's identity: a
    different program from a positive rate, and no seed generator (one would shift the
    seeds of every random layer built after it)."""
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="automl")
    class Dropout(keras.layers.Dropout):  # type: ignore[misc, name-defined]
        def build(self, input_shape: Any) -> None:
            # Float32 at every dtype policy: the mask's threshold is Keras's float32 one.
            self.keep = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0 - float(self.rate)),
                                        dtype="float32", trainable=False, name="keep")

        def call(self, inputs: Any, training: bool = False) -> Any:
            if not training or self.rate <= 0 or keras.backend.backend() != "jax":
                return super().call(inputs, training=training)
            ops = keras.ops
            shape = tuple(inputs.shape) if self.noise_shape is None else tuple(
                s if d is None else d for d, s in zip(self.noise_shape, inputs.shape))
            mask = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator) < self.keep
            mask = ops.broadcast_to(mask, ops.shape(inputs))
            kept = inputs / ops.cast(self.keep, inputs.dtype)
            return ops.where(mask, kept, ops.zeros_like(inputs))

        def save_own_variables(self, store: Any) -> None:
            """Nothing: the keep probability is the config's rate."""

        def load_own_variables(self, store: Any) -> None:
            """Nothing to load: the keep probability is the config's rate."""

    return Dropout


@functools.cache
def runtime_attention_class() -> type:
    """``keras.layers.MultiHeadAttention`` whose attention dropout is :func:`runtime_dropout_class`'s
    layer, seeded as Keras's would have been (the same masks)."""
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="automl")
    class MultiHeadAttention(keras.layers.MultiHeadAttention):  # type: ignore[misc, name-defined]
        _dropout_layer: Any

        def _build_attention(self, rank: int) -> None:
            super()._build_attention(rank)
            plain = self._dropout_layer
            if not plain.rate > 0:
                return
            # Keras's layer drew its seed already: the runtime one takes it over.
            seed = int(keras.ops.convert_to_numpy(plain.seed_generator.state)[0])
            self._tracker.untrack(plain)
            self._dropout_layer = runtime_dropout_class()(plain.rate, seed=seed, dtype=plain.dtype_policy,
                                                          name=plain.name)

    return MultiHeadAttention


@functools.cache
def runtime_optimizer_class(keras_class: str) -> type:
    """The Keras optimizer ``keras_class`` (a key of ``RUNTIME_COEFFICIENTS``) whose
    coefficients are variables while it updates; its attributes and config keep the floats."""
    keras = import_keras()
    base = getattr(keras.optimizers, keras_class)
    names = RUNTIME_COEFFICIENTS[keras_class]
    mixin: Any = _mixin()
    body: dict[str, Any] = {"_coefficient_names": names, "__module__": __name__}
    rule = _MOMENTUM_RULES.get(keras_class)
    if rule is not None:
        def update_step(self: Any, gradient: Any, variable: Any, learning_rate: Any) -> None:
            if "momentum" in self._runtime:
                rule(self, gradient, variable, learning_rate)
            else:
                mixin.update_step(self, gradient, variable, learning_rate)

        body["update_step"] = update_step
    cls = type(keras_class, (mixin, base), body)
    return keras.saving.register_keras_serializable(package="automl")(cls)  # type: ignore[no-any-return]


@functools.cache
def _mixin() -> type:
    keras = import_keras()

    class RuntimeCoefficients:
        """Keeps each coefficient in a non-trainable optimizer variable (the optimizer's
        variables are the program's arguments on JAX) and reads it from there while the
        update rule runs; elsewhere the attribute is the float (configs, structural checks)."""

        _coefficient_names: tuple[str, ...] = ()

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._runtime: dict[str, Any] = {}
            self._constants: dict[str, float] = {}
            for name in (*self._coefficient_names, "weight_decay"):
                value = getattr(self, name, None)
                if value is None or (name == "momentum" and not value):
                    continue
                var = keras.Variable(float(value), dtype=keras.config.floatx(), trainable=False, name=name,
                                     aggregation="only_first_replica")
                self._track_variable(var)  # type: ignore[attr-defined]
                self._runtime[name], self._constants[name] = var, float(value)

        @contextlib.contextmanager
        def _as_variables(self) -> Iterator[None]:
            saved = {name: vars(self)[name] for name in self._runtime}
            for name, var in self._runtime.items():
                object.__setattr__(self, name, var)  # past Keras's tracker: the variable is tracked already
            try:
                yield
            finally:
                for name, value in saved.items():
                    object.__setattr__(self, name, value)

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            with self._as_variables():
                super().update_step(gradient, variable, learning_rate)  # type: ignore[misc]

        def _backend_update_step(self, grads: Any, trainable_variables: Any, learning_rate: Any) -> None:
            with self._as_variables():  # Nadam reads beta_1 here
                super()._backend_update_step(grads, trainable_variables, learning_rate)  # type: ignore[misc]

        def _apply_weight_decay(self, variables: Any) -> None:
            with self._as_variables():
                super()._apply_weight_decay(variables)  # type: ignore[misc]

        def _state(self) -> list[Any]:
            runtime = {id(v) for v in self._runtime.values()}
            return [v for v in self.variables if id(v) not in runtime]  # type: ignore[attr-defined]

        def save_own_variables(self, store: Any) -> None:
            """Keras's optimizer's variables only: the coefficients are its config."""
            for i, var in enumerate(self._state()):
                store[str(i)] = var.numpy()

        def load_own_variables(self, store: Any) -> None:
            state = self._state()
            if len(store.keys()) != len(state):
                warnings.warn(f"Skipping variable loading for optimizer '{self.name}', because it has "  # type: ignore[attr-defined]
                              f"{len(state)} variables whereas the saved optimizer has {len(store.keys())} "
                              f"variables.", stacklevel=2)
                return
            for i, var in enumerate(state):
                var.assign(store[str(i)])

    return RuntimeCoefficients


# Keras 3.15's SGD and RMSprop update rules with a momentum, read from its variable: theirs
# test ``self.momentum`` against 0 inside the rule, which a traced value cannot answer.

def _sgd_momentum_rule(self: Any, gradient: Any, variable: Any, learning_rate: Any) -> None:
    ops = import_keras().ops
    learning_rate = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    m = self.momentums[self._get_variable_index(variable)]
    momentum = ops.cast(self._runtime["momentum"], variable.dtype)
    self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
    if self.nesterov:
        self.assign_add(variable, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, learning_rate)))
    else:
        self.assign_add(variable, m)


def _rmsprop_momentum_rule(self: Any, gradient: Any, variable: Any, learning_rate: Any) -> None:
    ops = import_keras().ops
    coefficient = self._runtime
    lr = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    velocity = self._velocities[self._get_variable_index(variable)]
    momentum = self._momentums[self._get_variable_index(variable)]
    rho = coefficient["rho"]
    self.assign(velocity, ops.add(ops.multiply(rho, velocity), ops.multiply(1 - rho, ops.square(gradient))))
    if self.centered:
        average_grad = self._average_gradients[self._get_variable_index(variable)]
        self.assign(average_grad, ops.add(ops.multiply(rho, average_grad), ops.multiply(1 - rho, gradient)))
        denominator = velocity - ops.square(average_grad) + coefficient["epsilon"]
    else:
        denominator = ops.add(velocity, coefficient["epsilon"])
    increment = ops.divide(ops.multiply(lr, gradient), ops.sqrt(denominator))
    self.assign(momentum, ops.add(ops.multiply(coefficient["momentum"], momentum), increment))
    self.assign_sub(variable, momentum)


_MOMENTUM_RULES = {"SGD": _sgd_momentum_rule, "RMSprop": _rmsprop_momentum_rule}

"""Model building: configuration → compiled Keras model, and the Keras import."""

from automl.model._backend import BACKENDS, configure_backend, import_keras, seed_everything
from automl.model._build import build_model, build_optimizer, count_params
from automl.model._training import custom_objects

__all__ = ["build_model", "build_optimizer", "configure_backend", "count_params", "custom_objects", "import_keras",
           "seed_everything", "BACKENDS"]

"""Data: built-ins, keras.datasets, files (.npz, .npy: memory-mapped; .csv), image folders, splits, fingerprints."""

from automl.data._builtin import BUILTIN, synthetic
from automl.data._dataset import Dataset
from automl.data._fingerprint import data_differences, data_fingerprint
from automl.data._keras_datasets import KERAS_DATASETS
from automl.data._load import DataSpec, data_from_description, load_data

__all__ = ["Dataset", "DataSpec", "load_data", "data_from_description", "data_fingerprint", "data_differences",
           "synthetic", "BUILTIN", "KERAS_DATASETS"]

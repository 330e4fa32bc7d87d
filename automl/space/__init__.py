"""Search spaces: the YAML format, ``build_model(hp)`` functions and the ``hp`` protocol."""

from automl.space._function import FunctionSpace
from automl.space._hp import HP, FixedHP
from automl.space._parse import load_space, parse_space
from automl.space._resolve import AnySpace, SearchSpace, catalog, resolve_space, space_from_definition
from automl.space._space import Objective, Space, effective_input_shape

__all__ = ["HP", "FixedHP", "Space", "FunctionSpace", "Objective", "SearchSpace", "AnySpace",
           "load_space", "parse_space", "resolve_space", "space_from_definition", "catalog",
           "effective_input_shape"]

"""The one library logger. Library code logs; only the CLI configures handlers."""

from __future__ import annotations

import logging

_ROOT = "automl"


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``automl`` logger or one of its children (``automl.<name>``)."""
    return logging.getLogger(_ROOT if not name else f"{_ROOT}.{name.removeprefix('automl.')}")


get_logger().addHandler(logging.NullHandler())

"""The store: Optuna's RDB schema through SQLAlchemy, plus ``automl:*`` attributes."""

from automl.storage._queries import (StudyRow, TrialRow, best_trial, leaderboard, list_studies, load_study,
                                     pareto_front, read_store, trial_row)
from automl.storage._url import DEFAULT_URL, ENV_VAR, open_storage, redact, resolve_url, sqlite_path

__all__ = ["DEFAULT_URL", "ENV_VAR", "open_storage", "redact", "resolve_url", "sqlite_path", "StudyRow",
           "TrialRow", "best_trial", "leaderboard", "list_studies", "load_study", "pareto_front", "read_store",
           "trial_row"]

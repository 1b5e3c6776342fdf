"""Formats and error models' former home, kept so that code written against it still imports: every public
name of :mod:`theory.formats` (formats, casts, unit roundoff) and :mod:`theory.error_models` (error models)."""

from theory import error_models, formats
from theory.error_models import *  # noqa: F403  (a re-export: the names are the two modules' __all__)
from theory.formats import *  # noqa: F403

__all__ = [*formats.__all__, *error_models.__all__]

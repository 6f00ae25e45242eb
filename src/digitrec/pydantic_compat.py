"""The one private pydantic API digitrec relies on, in one place.

The params schema follows the registries (:mod:`digitrec.registry`): ``fetch.dataset`` and
``train.model`` accept the registered names, and ``train`` has one section per classifier,
also after a registration at run time. pydantic has no public way to change the fields of
an existing model class: ``create_model`` makes a new class, which every module that
imported the old one would miss. :func:`replace_fields` sets the class's field table
(``__pydantic_fields__``, which ``model_rebuild`` builds the validator from) and rebuilds
it. ``tests/test_pydantic_compat.py`` checks it against the installed pydantic, so an
upgrade that changes it fails there, by name.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def replace_fields(model: type[BaseModel], fields: dict[str, FieldInfo]) -> None:
    """Give ``model`` exactly ``fields`` (in that order) and rebuild its validator and JSON
    schema in place. Models holding ``model`` as a field need their own
    ``model_rebuild(force=True)`` afterwards; subclasses are not updated."""
    model.__pydantic_fields__ = fields
    model.model_rebuild(force=True)

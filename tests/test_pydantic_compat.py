"""The private pydantic API of digitrec.pydantic_compat, checked against the installed
pydantic: when an upgrade breaks it, this file fails first, naming it."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from digitrec.pydantic_compat import replace_fields


def test_replace_fields_changes_the_class_in_place():
    class Section(BaseModel):
        name: str = "a"

    class Outer(BaseModel):
        section: Section = Field(default_factory=Section)

    same = Section
    names = FieldInfo.from_annotated_attribute(Literal["a", "b"], Field("a", description="d"))
    extra = FieldInfo.from_annotated_attribute(int, Field(3, ge=0))
    replace_fields(Section, {"name": names, "count": extra})
    Outer.model_rebuild(force=True)

    assert same is Section and list(Section.model_fields) == ["name", "count"]
    assert Section(name="b").count == 3
    with pytest.raises(ValidationError, match="'a' or 'b'"):
        Section(name="c")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Outer.model_validate({"section": {"count": -1}})
    assert Outer().section.count == 3
    schema = Section.model_json_schema()
    assert schema["properties"]["name"]["enum"] == ["a", "b"]
    assert schema["properties"]["name"]["description"] == "d"

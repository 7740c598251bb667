"""What every shape of the request is built from: an open object (what the gateway does not read it keeps
and echoes) and unions chosen by a tag, so a bad value gets one error under its own path."""

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, create_model


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)


def type_of(value: Any) -> Any:
    """What picks a union member: the value's ``type`` (None when it is not an object)."""
    if isinstance(value, dict):
        return value.get("type")
    return getattr(value, "type", None)


def tagged(members: dict[str, Any], tag: Any = type_of) -> Any:
    """A union whose member is chosen by ``tag(value)``: a bad value gets one error, under its own
    parameter path, rather than one per member; an unknown ``type`` is named with the known ones."""
    choices = tuple(Annotated[model, Tag(name)] for name, model in members.items())
    return Annotated[Union[choices], Discriminator(tag)]  # noqa: UP007 (the members are known at run time)


def loose(kind: str, *required: str) -> type[Open]:
    """An object OpenAI defines but the gateway only carries (hosted tools and their items): its
    ``type`` and required fields are checked, their contents are kept as sent."""
    fields: dict[str, Any] = {name: (Any, ...) for name in required}
    name = "".join(part.title() for part in kind.split("_"))
    return create_model(name, __base__=Open, type=(Literal[kind], ...), **fields)

"""The mypy plugin for typed references: add ``plugins = ["roost.mypy"]`` to your mypy config.

A reference, `Ref[Counter]` (`roost.sdk.refs`), has the actor's actions as its only attributes,
which Python's typing cannot express (it cannot map a class's attributes to other types). This
plugin does: ``ref.add`` is a `RefCall[P, R]` (or `RefCall0[R]` without a payload) made from the
`ActionDef[Counter, P, R]` that ``@action`` put on the class, and any other name is an error
(``attr-defined``): a name the actor does not have, and one it has that is not an action, such as
``ref.state_type`` or a helper method, which would raise AttributeError at run time.

It uses one documented hook: mypy calls the attribute hook for every name looked up through a
class's ``__getattr__`` (`Ref.__getattr__`). Without the plugin those names are untyped
`BoundRef`s: nothing is refused, nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mypy.checker import TypeChecker
from mypy.errorcodes import ATTR_DEFINED
from mypy.maptype import map_instance_to_supertype
from mypy.nodes import TypeInfo
from mypy.plugin import AttributeContext, Plugin
from mypy.types import AnyType, Instance, Type, TypeOfAny, TypeType, TypeVarType, get_proper_type

REF = "roost.sdk.refs.Ref"
ACTION = "roost.sdk.actions.ActionDef"
ACTION0 = "roost.sdk.actions.ActionDef0"
CALL = "roost.sdk.actions.RefCall"
CALL0 = "roost.sdk.actions.RefCall0"


class RoostPlugin(Plugin):
    """Types the attributes of `Ref[A]` from A's actions."""

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        return partial(ref_attribute, self, name) if owner == REF else None

    def instance(self, fullname: str, args: list[Type]) -> Instance:
        """`fullname[*args]`: a class of roost.sdk, which every module using `Ref` depends on."""
        sym = self.lookup_fully_qualified(fullname)
        assert sym is not None and isinstance(sym.node, TypeInfo), fullname
        return Instance(sym.node, args)


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return RoostPlugin


def ref_attribute(plugin: RoostPlugin, name: str, ctx: AttributeContext) -> Type:
    """The type of ``ref.<name>``: the action's `RefCall`, else an error."""
    ref = ctx.type
    if not isinstance(ref, Instance) or ref.type.get(name) is not None:
        return ctx.default_attr_type  # the reference's own (private) attributes
    actor = get_proper_type(map_instance_to_supertype(ref, base(ref.type, REF)).args[0])
    shown = actor.name if isinstance(actor, TypeVarType) else ""
    if isinstance(actor, TypeVarType):
        actor = get_proper_type(actor.upper_bound)  # Ref[T]: the actions of T's bound
    if not isinstance(actor, Instance):
        return ctx.default_attr_type  # Ref[Any] and the like: unchecked
    label = f'"{ref.type.name}[{shown or actor.type.name}]"'
    if actor.type.get(name) is None:
        ctx.api.fail(f'{label} has no attribute "{name}" (no such action)', ctx.context,
                     code=ATTR_DEFINED)  # fmt: skip
        return AnyType(TypeOfAny.from_error)
    assert isinstance(ctx.api, TypeChecker)
    # The attribute as the class has it, through ActionDef.__get__(None, cls): the ActionDef
    # itself. mypy defers the check, and gives Any meanwhile, if its type is not inferred yet.
    member = get_proper_type(
        ctx.api.expr_checker.analyze_external_member_access(
            name, TypeType.make_normalized(actor), ctx.context
        )
    )
    if isinstance(member, AnyType):
        return member
    if isinstance(member, Instance) and member.type.has_base(ACTION):
        _, payload, reply = map_instance_to_supertype(member, base(member.type, ACTION)).args
        if member.type.has_base(ACTION0):
            return plugin.instance(CALL0, [reply])
        return plugin.instance(CALL, [payload, reply])
    ctx.api.fail(
        f'{label} has no attribute "{name}" (not an action; a reference has only actions)',
        ctx.context,
        code=ATTR_DEFINED,
    )
    return AnyType(TypeOfAny.from_error)


def base(info: TypeInfo, fullname: str) -> TypeInfo:
    """The class `fullname` among `info`'s bases (the caller checked it is one)."""
    return next(b for b in info.mro if b.fullname == fullname)

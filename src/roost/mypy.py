"""The mypy plugin for typed references: add ``plugins = ["roost.mypy"]`` to your mypy config.

Without it, the functions that make a reference (`ActorSystem.ref`, `roost.ref`, `Context.ref`)
return the actor class itself as far as a type checker knows, so mypy and pyright check the action
names, payloads and replies of calls through a reference, but cannot tell an action from any
other attribute of the class (``ref.state_type``, a helper method), which raises AttributeError at
run time: Python's typing cannot map a class's attributes to other types. This plugin can:

- a call of one of those functions (or of a subclass's inherited method) returns `Ref[Counter]`,
  the class references are at run time (`roost.sdk.refs`), as does a value annotated so;
- ``ref.add`` on a `Ref[Counter]` is a `RefCall[P, R]` (or `RefCall0[R]` without a payload) made
  from the `ActionDef[Counter, P, R]` that ``@action`` put on the class, and any other name is an
  error (``attr-defined``): one the actor does not have, and one it has that is not an action;
- on an actor instance an action is the plain method, ``(payload, ctx)``, not an `ActionCall`:
  ``Counter().add.delay(...)`` is an error too.

It uses mypy's documented hooks: the method and function signature hooks (the return type is
changed before inference, so a `Ref[Counter]` context infers like any other), the attribute hook,
which mypy calls for every name looked up through a class's ``__getattr__`` (`Ref.__getattr__`),
and the method hook of ``ActionDef.__get__``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from mypy.checker import TypeChecker
from mypy.errorcodes import ATTR_DEFINED
from mypy.maptype import map_instance_to_supertype
from mypy.nodes import ARG_POS, TypeInfo
from mypy.plugin import (
    AttributeContext,
    FunctionSigContext,
    MethodContext,
    MethodSigContext,
    Plugin,
)
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    ProperType,
    Type,
    TypeOfAny,
    TypeType,
    TypeVarType,
    get_proper_type,
)

REF = "roost.sdk.refs.Ref"
ACTION = "roost.sdk.actions.ActionDef"
ACTION0 = "roost.sdk.actions.ActionDef0"
CALL = "roost.sdk.actions.RefCall"
CALL0 = "roost.sdk.actions.RefCall0"
ACTION_CALL = "roost.sdk.actions.ActionCall"
ACTION_CALL0 = "roost.sdk.actions.ActionCall0"
CONTEXT = "roost.sdk.context.Context"
# What makes a reference: these functions, and the `ref` method of these classes (and of their
# subclasses, unless one overrides it).
REF_FUNCTIONS = {"roost.node.api.ref"}
REF_METHOD_OWNERS = {"roost.node.system.ActorSystem", CONTEXT}
GETS = {f"{ACTION}.__get__", f"{ACTION0}.__get__"}


class RoostPlugin(Plugin):
    """Makes references `Ref[A]` and types their attributes from A's actions."""

    def get_function_signature_hook(
        self, fullname: str
    ) -> Callable[[FunctionSigContext], FunctionLike] | None:
        return partial(ref_function, self) if fullname in REF_FUNCTIONS else None

    def get_method_signature_hook(
        self, fullname: str
    ) -> Callable[[MethodSigContext], FunctionLike] | None:
        # `fullname` names the receiver's class, maybe a subclass: the hook checks where the
        # method comes from
        return partial(ref_method, self) if fullname.endswith(".ref") else None

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return partial(instance_action, self) if fullname in GETS else None

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        return partial(ref_attribute, self, name) if owner == REF else None

    def lookup_class(self, fullname: str) -> TypeInfo | None:
        """A class of roost.sdk, which every module making or using references depends on."""
        sym = self.lookup_fully_qualified(fullname)
        return sym.node if sym is not None and isinstance(sym.node, TypeInfo) else None

    def instance(self, fullname: str, args: list[Type]) -> Instance:
        """`fullname[*args]`."""
        info = self.lookup_class(fullname)
        assert info is not None, fullname
        return Instance(info, args)


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return RoostPlugin


def ref_function(plugin: RoostPlugin, ctx: FunctionSigContext) -> FunctionLike:
    """``roost.ref(Counter, ...)``: returns `Ref[Counter]`."""
    return returns_ref(plugin, ctx.default_signature)


def ref_method(plugin: RoostPlugin, ctx: MethodSigContext) -> FunctionLike:
    """``system.ref(Counter, ...)``, ``ctx.ref(...)``: returns `Ref[Counter]`, when the method is
    the one `REF_METHOD_OWNERS` define."""
    info = class_of(ctx.type)
    owner = info.get_containing_type_info("ref") if info is not None else None
    if owner is None or owner.fullname not in REF_METHOD_OWNERS:
        return ctx.default_signature
    return returns_ref(plugin, ctx.default_signature)


def returns_ref(plugin: RoostPlugin, sig: CallableType) -> CallableType:
    """`sig`, declared to return the actor class `A` (a type variable), returning `Ref[A]`."""
    ref = plugin.lookup_class(REF)
    if ref is None or not isinstance(get_proper_type(sig.ret_type), TypeVarType):
        return sig
    return sig.copy_modified(ret_type=Instance(ref, [sig.ret_type]))


def class_of(t: ProperType) -> TypeInfo | None:
    """The class of a method's receiver: an instance's, or the class itself (``Cls.ref(obj)``)."""
    if isinstance(t, Instance):
        return t.type
    if isinstance(t, TypeType) and isinstance(t.item, Instance):
        return t.item.type
    if isinstance(t, CallableType) and t.is_type_obj():
        return t.type_object()
    return None


def instance_action(plugin: RoostPlugin, ctx: MethodContext) -> Type:
    """An action read off an actor instance (``ActionDef.__get__``): the method itself,
    ``(payload, ctx)`` or ``(ctx)``, rather than the `ActionCall` declared for plain mypy, which
    also has a reference's calls since, without the plugin, a reference is typed as the actor."""
    got = get_proper_type(ctx.default_return_type)
    if not isinstance(got, Instance) or got.type.fullname not in (ACTION_CALL, ACTION_CALL0):
        return ctx.default_return_type  # class access: the ActionDef itself
    args: list[Type] = [plugin.instance(CONTEXT, [])]
    if got.type.fullname == ACTION_CALL:
        args.insert(0, got.args[0])  # the payload type
    anything = AnyType(TypeOfAny.special_form)
    return CallableType(
        args,
        [ARG_POS] * len(args),
        [None] * len(args),
        ctx.api.named_generic_type("typing.Coroutine", [anything, anything, anything]),
        ctx.api.named_generic_type("builtins.function", []),
    )


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

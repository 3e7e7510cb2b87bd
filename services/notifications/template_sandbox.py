"""The sandbox message templates are rendered in: Jinja2 that cannot reach Python nor change
the values it is given, and that keeps within bounds on the work of one rendering.

A template is its author's code, run by the service (in a worker thread, beside the event
loop): without bounds three nested loops, `"x"|center(50000000)` or `"x"*1000*1000*30` held the
whole service for seconds. Each rendering runs inside `metered()`, which counts its steps
(loop rounds, calls, filters, operators, look-ups), what it writes and its time; values,
widths and the results of operators and string methods are checked before they are made.
Going over a bound raises `TooCostly` (a SecurityError).
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup, soft_str

# What one rendering (subject, text and HTML of one message) may do. A message's body is at
# most 100,000 characters and an HTML template 200,000: real templates stay far inside these.
MAX_STEPS = 200_000  # loop rounds, calls, filters, operators and look-ups: a loop over each
# character of the longest body (100,000) fits
MAX_VALUE = 300_000  # characters (and items, of lists) of any one value
MAX_OUTPUT = 2_000_000  # characters written, all parts together
MAX_WIDTH = 1_000  # of padding: center, ljust, zfill, format widths, indent...
RENDER_SECONDS = 0.25  # of the rendering thread's CPU, whatever the steps were: time spent
# waiting for the GIL behind other threads does not count, so a busy service fails no template
CLOCK_EVERY = 16  # steps between readings of that clock (a system call, ~0.6 µs)


class TooCostly(SecurityError):
    """A template that went over the bounds of a rendering."""


class _Budget:
    """The work one rendering has done so far."""

    __slots__ = ("deadline", "output", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0
        # read at the first clock step, not here: most messages' renderings are shorter than
        # that, and the clock is a system call (a fortieth of a send's CPU when read for each)
        self.deadline: float | None = None

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TooCostly(
                f"it does too much work (over {MAX_STEPS:,} loop rounds, calls and look-ups)"
            )
        if self.steps % CLOCK_EVERY == 0:
            now = time.thread_time()
            if self.deadline is None:
                self.deadline = now + RENDER_SECONDS
            elif now > self.deadline:
                raise TooCostly(f"it takes too long (over {RENDER_SECONDS} s)")

    def emit(self, size: int) -> None:
        self.output += size
        if self.output > MAX_OUTPUT:
            raise TooCostly(f"it writes too much (over {MAX_OUTPUT:,} characters)")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _budget() -> _Budget:
    """The current rendering's budget; outside one (Jinja folds constants when it compiles a
    template) a fresh one: the bounds on the size of values still hold."""
    return _BUDGET.get() or _Budget()


def _size(value: Any, limit: int = MAX_VALUE) -> int:
    """About how many characters a value is when written out (strings by their length,
    containers by their items, each counted as often as it occurs), counted to past `limit`."""
    total, stack, namespaces = 0, [value], set()
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            total += len(v)
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += len(v) + 1
            stack.extend(v)
        elif isinstance(v, Mapping):
            total += len(v) + 1
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, Namespace) and id(v) not in namespaces:  # the one mutable: cycles
            namespaces.add(id(v))
            stack.append(dict(v._Namespace__attrs))  # type: ignore[attr-defined]
        else:
            total += 1
    return total


def _bounded(value: Any, what: str = "a value") -> int:
    size = _size(value)
    if size > MAX_VALUE:
        raise TooCostly(f"{what} would be too long (over {MAX_VALUE:,} characters or items)")
    return size


def _width(width: Any, what: str = "a width") -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise TooCostly(f"{what} may be at most {MAX_WIDTH:,}, not {width:,}")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_FORMAT_NUMBER = re.compile(r"\d+")


def _percent(fmt: str, args: Any) -> None:
    """Refuse a `%` formatting whose result could be too long, before it is made."""
    specs = _PERCENT_SPEC.findall(fmt)
    widest = 0
    for width, precision in specs:
        for number in (width, precision):
            if number == "*":
                raise TooCostly("a * width is not allowed in a template")
            if number:
                _width(int(number))
                widest = max(widest, int(number))
    if isinstance(args, Mapping):
        values = list(args.values())
    else:
        values = list(args) if isinstance(args, tuple) else [args]
    biggest = max((_size(v) for v in values), default=0)
    if len(fmt) + len(specs) * (biggest + widest + 400) > MAX_VALUE:  # 400: a float's digits
        raise TooCostly(f"the formatted text would be too long (over {MAX_VALUE:,} characters)")


def _joined(separator: Any, items: Any) -> list[Any]:
    """The items of a join, as a list, if the joined text is within the bounds."""
    budget = _budget()
    listed: list[Any] = []
    total = 0
    for item in items:
        budget.step()
        listed.append(item)
        total += _size(item) + _size(separator)
        if total > MAX_VALUE:
            raise TooCostly(f"the joined text would be too long (over {MAX_VALUE:,} characters)")
    return listed


def _replaced(s: str, old: Any, new: Any, count: Any) -> None:
    if not isinstance(old, str) or not isinstance(new, str):
        return  # str.replace refuses it
    found = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    if len(s) + found * (len(new) - len(old)) > MAX_VALUE:
        raise TooCostly(f"the replaced text would be too long (over {MAX_VALUE:,} characters)")


# Filters whose arguments decide how much they make: checked before they run. Each takes the
# filter's arguments (after the context Jinja passes some) and returns them, maybe changed.
Args = tuple[tuple[Any, ...], dict[str, Any]]


def _center_args(*args: Any, **kwargs: Any) -> Args:
    def check(value: Any, width: Any = 80) -> None:
        _width(width)

    check(*args, **kwargs)
    return args, kwargs


def _indent_args(*args: Any, **kwargs: Any) -> Args:
    def check(s: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
        indent = len(width) if isinstance(width, str) else width
        _width(indent, "an indent")
        if (
            isinstance(indent, int)
            and len(soft_str(s)) + (soft_str(s).count("\n") + 1) * max(indent, 0) > MAX_VALUE
        ):
            raise TooCostly(f"the indented text would be too long (over {MAX_VALUE:,} characters)")

    check(*args, **kwargs)
    return args, kwargs


def _format_args(*args: Any, **kwargs: Any) -> Args:
    if args:
        _percent(soft_str(args[0]), kwargs or args[1:])
    return args, kwargs


def _wordwrap_args(*args: Any, **kwargs: Any) -> Args:
    def check(
        s: Any,
        width: Any = 79,
        break_long_words: Any = True,
        wrapstring: Any = None,
        break_on_hyphens: Any = True,
    ) -> None:
        if isinstance(width, int) and len(soft_str(s)) > 20_000 * max(width, 1):
            raise TooCostly("the text would be wrapped into too many lines (over 20,000)")
        if wrapstring is not None:
            _width(len(soft_str(wrapstring)), "a wrapstring's length")

    check(*args, **kwargs)
    return args, kwargs


def _batch_args(*args: Any, **kwargs: Any) -> Args:
    def check(value: Any, linecount: Any, fill_with: Any = None) -> None:
        if isinstance(linecount, int) and linecount > MAX_VALUE:
            raise TooCostly(f"a batch may have at most {MAX_VALUE:,} items")

    check(*args, **kwargs)
    return args, kwargs


def _slice_args(*args: Any, **kwargs: Any) -> Args:
    def check(value: Any, slices: Any, fill_with: Any = None) -> None:
        _width(slices, "the number of slices")

    check(*args, **kwargs)
    return args, kwargs


def _replace_args(*args: Any, **kwargs: Any) -> Args:
    def check(s: Any, old: Any, new: Any, count: Any = None) -> None:
        _replaced(soft_str(s), old, new, count)

    check(*args, **kwargs)
    return args, kwargs


def _sum_args(*args: Any, **kwargs: Any) -> Args:
    def check(iterable: Any, attribute: Any = None, start: Any = 0) -> None:
        if not isinstance(start, (int, float)):
            raise TooCostly("sum adds numbers only in a template")

    check(*args, **kwargs)
    return args, kwargs


def _pprint_args(*args: Any, **kwargs: Any) -> Args:
    if args and _size(args[0], 10_000) > 10_000:
        raise TooCostly("pprint is for small values only (up to 10,000 characters or items)")
    return args, kwargs


def _tojson_args(*args: Any, **kwargs: Any) -> Args:
    def check(value: Any, indent: Any = None) -> None:
        _width(len(indent) if isinstance(indent, str) else indent, "an indent")
        if indent and _size(value) * 8 > MAX_VALUE:
            raise TooCostly("tojson indents small values only")

    check(*args, **kwargs)
    return args, kwargs


def _urlize_args(*args: Any, **kwargs: Any) -> Args:
    if args and len(soft_str(args[0]).split()) > 30_000:  # each word is looked at in Python
        raise TooCostly("urlize takes texts of up to 30,000 words")
    return args, kwargs


_CHECKED_FILTERS: dict[str, Callable[..., Args]] = {
    "urlize": _urlize_args,
    "center": _center_args,
    "indent": _indent_args,
    "format": _format_args,
    "wordwrap": _wordwrap_args,
    "batch": _batch_args,
    "slice": _slice_args,
    "replace": _replace_args,
    "sum": _sum_args,
    "pprint": _pprint_args,
    "tojson": _tojson_args,
}


def _metered_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter (or test) that counts as a step, takes no value over the bounds, and is
    checked first if its arguments decide how much it makes."""
    passes_context = getattr(func, "jinja_pass_arg", None) is not None
    check = _CHECKED_FILTERS.get(name)
    join = name == "join"

    @functools.wraps(func)
    def metered(*args: Any, **kwargs: Any) -> Any:
        _budget().step()
        head, rest = (args[:1], args[1:]) if passes_context else ((), args)
        for value in (*rest, *kwargs.values()):
            _bounded(value, f"the value given to {name}")
        if check is not None:
            rest, kwargs = check(*rest, **kwargs)
        elif join and rest:  # join(value, d="", attribute=None): its items, then the text
            separator = rest[1] if len(rest) > 1 else kwargs.get("d", "")
            attribute = kwargs.pop("attribute", rest[2] if len(rest) > 2 else None)
            items: Iterable[Any] = rest[0]
            if attribute is not None:
                items = map(make_attrgetter(head[0].environment, attribute), items)
            rest = (_joined(separator, items), *rest[1:2])
        return func(*head, *rest, **kwargs)

    return metered


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    if n > 20 or max > 200:
        raise TooCostly("lipsum makes at most 20 paragraphs of at most 200 words")
    return generate_lorem_ipsum(n, html, min, max)


@pass_context
def _metered_loop(context: Context, iterable: Iterable[Any]) -> Iterable[Any]:
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


@pass_context
def _metered_concat(context: Context, parts: tuple[Any, ...]) -> str:
    """`a ~ b`, as Jinja makes it, once its length is known to be within the bounds."""
    _budget().step()
    total = 0
    for part in parts:
        total += _size(part)
        if total > MAX_VALUE:
            raise TooCostly(f"the joined text would be too long (over {MAX_VALUE:,} characters)")
    return markup_join(parts) if context.eval_ctx.autoescape else str_join(parts)


@pass_context
def _metered_text(context: Context, size: int) -> None:
    """A template's own text is written: it counts towards what a rendering may write."""
    _budget().emit(size)


@pass_context
def _metered_output(context: Context, value: Any) -> Any:
    """Each `{{ ... }}` written (the environment's `finalize`)."""
    _budget().emit(_bounded(value, "a value written"))
    return value


def _internal(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Metering(NodeTransformer):
    """Rewrites a parsed template so that what can repeat is counted: each round of a loop
    (recursive ones too), each `~`, and the template's own text each time it is written."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _internal(node.iter, "_metered_loop")
        return node

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node.node, nodes.Name) and node.node.name == "loop" and node.args:
            node.args[0] = _internal(node.args[0], "_metered_loop")  # a recursive loop's round
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _internal(nodes.Tuple(node.nodes, "load", lineno=node.lineno), "_metered_concat")

    def visit_Output(self, node: nodes.Output) -> nodes.Node | list[nodes.Node]:
        self.generic_visit(node)
        text = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
        if not text:
            return node
        count = nodes.ExprStmt(_internal(nodes.Const(text, lineno=node.lineno), "_metered_text"))
        return [count, node]


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` in a template: widths within the bounds, and no more text than a value."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.written = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _budget().step()
        for number in _FORMAT_NUMBER.findall(format_spec):
            _width(int(number), "a format width")
        _bounded(value, "a formatted value")
        formatted = super().format_field(value, format_spec)
        self.written += len(formatted)
        if self.written > MAX_VALUE:
            raise TooCostly(f"the formatted text would be too long (over {MAX_VALUE:,} characters)")
        return formatted


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# str (and bytes) methods whose arguments decide how much they make
_PADDING = {"center", "ljust", "rjust", "zfill"}
# a template writes text: it has no use for codecs, and one call of some (punycode) costs
# seconds before any bound is checked again
_REFUSED = {"translate", "maketrans", "encode", "decode"}


class _Sandbox(ImmutableSandboxedEnvironment):
    """No Python, no changes to the values a template is given (or anything else), and no
    more work than the bounds above: 9**99999, 'x' * 10**9, nested loops over long strings,
    `center(10**8)` are refused (intercepted operators are not folded at compile time)."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_metered_output, **options)
        self.filters = {name: _metered_filter(name, f) for name, f in self.filters.items()}
        self.filters.update(
            _metered_loop=_metered_loop,
            _metered_concat=_metered_concat,
            _metered_text=_metered_text,
        )
        tests: dict[str, Any] = dict(self.tests)
        self.tests = {name: _metered_filter(name, t) for name, t in tests.items()}
        self.globals["lipsum"] = _lipsum

    def compile_template(self, source: str):  # type: ignore[no-untyped-def]
        tree = _Metering().visit(self.parse(source))
        tree.set_environment(self)
        return self.from_string(tree)

    def call_binop(self, context, operator, left, right):  # type: ignore[no-untyped-def]
        _budget().step()
        if operator == "**":
            raise SecurityError("** is not allowed in a template")
        sized = (str, bytes, list, tuple)
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, sized) and isinstance(times, int):
                    if times > 0 and _size(seq) * times > MAX_VALUE:
                        raise TooCostly(
                            f"the result of * would be too long (over {MAX_VALUE:,} characters "
                            "or items)"
                        )
            if isinstance(left, int) and isinstance(right, int):
                if abs(left).bit_length() + abs(right).bit_length() > 1024:
                    raise TooCostly("* is allowed with numbers of up to 300 digits only")
        elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
            if _size(left) + _size(right) > MAX_VALUE:
                raise TooCostly(f"the result of + would be too long (over {MAX_VALUE:,} items)")
        elif operator == "%" and isinstance(left, str):
            _percent(left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _budget().step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _budget().step()
        return super().getitem(obj, argument)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if isinstance(owner, (str, bytes)):
            args = self._string_method(owner, name, args, kwargs)
        elif isinstance(owner, int) and name == "to_bytes":
            _width(args[0] if args else kwargs.get("length", 1), "a length")
        return super().call(context, obj, *args, **kwargs)

    @staticmethod
    def _string_method(
        owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        if name in _REFUSED:
            raise SecurityError(f"{name} is not allowed in a template")
        if name in _PADDING:
            _width(args[0] if args else kwargs.get("width"))
        elif name == "expandtabs":
            tabsize = args[0] if args else kwargs.get("tabsize", 8)
            _width(tabsize)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if isinstance(tabsize, int) and len(owner) + tabs * tabsize > MAX_VALUE:
                raise TooCostly(f"the text would be too long (over {MAX_VALUE:,} characters)")
        elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
            _replaced(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count"))
        elif name == "replace" and isinstance(owner, bytes):
            raise SecurityError("bytes.replace is not allowed in a template")
        elif name == "join" and args:
            return (_joined(owner, args[0]), *args[1:])
        return args

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's own, with a formatter that keeps to the bounds."""
        if super().wrap_str_format(value) is None:
            return None
        f_self = value.__self__
        str_type = type(f_self)
        is_format_map = value.__name__ == "format_map"
        escape = f_self.escape if isinstance(f_self, Markup) else None

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter = (
                _BoundedEscapeFormatter(self, escape=escape)
                if escape is not None
                else _BoundedFormatter(self)
            )
            if is_format_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(f_self, args, kwargs))

        return functools.update_wrapper(wrapper, value)


TEXT = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
HTML = _Sandbox(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@contextlib.contextmanager
def metered() -> Iterator[None]:
    """The renderings inside share one budget (a message's subject, text and HTML)."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)

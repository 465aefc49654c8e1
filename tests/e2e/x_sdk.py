"""X's contract as X's own Python SDK (`xdk`, pinned in requirements.txt) states it.

xdk is generated from X's OpenAPI document: each method of its clients
(`xdk/<tag>/client.py`) sends one operation and parses the answer into the
pydantic model of that operation's response, and its signature lists, as
`Literal[...]` types, every field and expansion name X defines for it. This
module reads those facts from the installed SDK at run time — nothing of X's
document is copied into the repository:

- `operations()`: every operation the SDK's clients send, (method, path
  template), with the client method and its response model, read from each
  method's source (the URL it builds and the session method it calls) and
  its return annotation;
- `operation_for(method, path)`: the operation a concrete request path is;
- `contract_violations(op, body)`: what in a response body the SDK's model of
  that operation rejects, field by field;
- `name_lists(op)`: the field and expansion names the SDK's method offers,
  per parameter; `single_choices(op)`: the values of its one-value choices.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import pkgutil
import re
import typing
from dataclasses import dataclass

import pydantic
import xdk

_URL = re.compile(r'url = self\.client\.base_url \+ "([^"]+)"')
_SEND = re.compile(r"self\.client\.session\.(get|post|put|patch|delete)\(")
# How a method turns a list parameter into a query parameter:
# `params["post.fields"] = ",".join(str(item) for item in post_fields)`.
_LIST_PARAM = re.compile(r'params\["([^"]+)"\] = ","\.join\(\s*str\(item\) for item in (\w+)\s*\)')


@dataclass(frozen=True)
class Operation:
    """One operation of X's API as an xdk client method sends it."""

    method: str
    path: str
    client: str
    name: str
    model: type[pydantic.BaseModel]
    paginated: bool
    query_names: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path} (xdk {self.client}.{self.name} -> {self.model.__name__})"

    def function(self):
        return getattr(_client_classes()[self.client], self.name)

    def bound(self, client: xdk.Client):
        return getattr(getattr(client, self.client), self.name)

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and _template_regex(self.path).fullmatch(path) is not None


@functools.cache
def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


@functools.cache
def _client_classes() -> dict[str, type]:
    """The sub-client of each attribute of `xdk.Client` (`posts`, `users`, ...)."""
    client = xdk.Client(bearer_token="unused")
    return {
        attr: type(value)
        for attr, value in vars(client).items()
        if type(value).__module__.startswith("xdk.") and type(value).__module__.endswith(".client")
    }


def _type_hints(function) -> dict:
    module = importlib.import_module(function.__module__)
    return typing.get_type_hints(function, globalns={**vars(typing), **vars(module)})


@functools.cache
def operations() -> tuple[Operation, ...]:
    found = []
    # Every sub-package's client module is loaded, so that nothing the SDK offers is missed.
    for info in pkgutil.iter_modules(xdk.__path__):
        if info.ispkg:
            importlib.import_module(f"xdk.{info.name}.client")
    for attr, cls in _client_classes().items():
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            source = inspect.getsource(function)
            urls, sends = set(_URL.findall(source)), set(_SEND.findall(source))
            if len(urls) != 1 or len(sends) != 1:
                # Streams and the few methods that build their URL otherwise: not
                # operations Tollgate serves; `served_operation` fails loudly if one
                # it serves is ever among them.
                continue
            returned = _type_hints(function).get("return")
            paginated = typing.get_origin(returned) is not None and typing.get_origin(returned).__name__ == "Iterator"
            model = typing.get_args(returned)[0] if paginated else returned
            if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
                continue
            query_names = tuple((python, query) for query, python in _LIST_PARAM.findall(source))
            found.append(
                Operation(sends.pop().upper(), urls.pop(), attr, name, model, paginated, tuple(dict(query_names).items()))
            )
    return tuple(found)


def operation_for(method: str, path: str) -> Operation | None:
    """The operation `METHOD path` is; a literal segment beats a placeholder
    (`/2/users/by` is not `/2/users/{id}`)."""
    candidates = [op for op in operations() if op.matches(method, path)]
    if not candidates:
        return None
    return min(candidates, key=lambda op: op.path.count("{"))


def served_operation(method: str, path: str) -> Operation:
    """The operation of a path template Tollgate serves (`/2/users/{id}`)."""
    ops = [op for op in operations() if op.method == method and op.path == path]
    assert len(ops) == 1, f"xdk {xdk.__name__} has {len(ops)} methods for {method} {path}: {ops}"
    return ops[0]


def contract_violations(op: Operation, body: bytes) -> list[str]:
    """Each thing the SDK's response model of `op` rejects in `body`, as
    `field.path: message (value)`; empty when the body parses."""
    try:
        document = json.loads(body)
    except ValueError as e:
        return [f"the body is not JSON ({e}): {body[:200]!r}"]
    try:
        op.model.model_validate(document)
    except pydantic.ValidationError as e:
        return _describe(e.errors(include_url=False))
    return []


def _describe(errors: list[dict]) -> list[str]:
    """One line per field. Where a value matches no variant of a union (X's
    `Problem` is one of nine problem types), the variant it comes closest to
    (fewest errors) is the one reported, named, instead of all nine."""
    by_union: dict[tuple, dict[str, list[dict]]] = {}
    plain = []
    for error in errors:
        loc = tuple(error["loc"])
        at = next((i for i, part in enumerate(loc) if isinstance(part, str) and part[:1].isupper()), None)
        if at is None:
            plain.append(error)
        else:
            by_union.setdefault(loc[:at], {}).setdefault(loc[at], []).append({**error, "loc": loc[:at] + loc[at + 1 :]})
    out = [_line(error) for error in plain]
    for variants in by_union.values():
        name, closest = min(variants.items(), key=lambda kv: (len(kv[1]), not _named_after(kv[0], kv[1]), kv[0]))
        out.extend(f"{_line(error)} [as {name}, the closest of {len(variants)} variants]" for error in closest)
    return out


def _named_after(variant: str, errors: list[dict]) -> bool:
    """Whether `variant` is the problem type the value says it is
    (`.../problems/resource-not-found` and `ResourceNotFoundProblem`)."""
    for error in errors:
        value = error.get("input")
        if isinstance(value, dict):
            value = value.get("type")
        if isinstance(value, str) and "/problems/" in value:
            slug = value.rsplit("/", 1)[-1].replace("-", "")
            return variant.lower() == f"{slug}problem"
    return False


def _line(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(the body)"
    shown = json.dumps(error.get("input"), default=str)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    return f"{where}: {error['msg']} (got {shown})"


def name_lists(op: Operation) -> dict[str, list[str]]:
    """The names each list parameter of the SDK's method offers (its
    `List[Literal[...]]` types), keyed by the query parameter the SDK sends
    them in (`post.fields`, `expansions`, ...)."""
    hints = _type_hints(op.function())
    query_of = dict(op.query_names)
    out = {}
    for python_name, hint in hints.items():
        names = _literal_list(hint)
        if names is not None and python_name in query_of:
            out[query_of[python_name]] = names
    return out


def python_parameter(op: Operation, query_name: str) -> str:
    return next(python for python, query in op.query_names if query == query_name)


def single_choices(op: Operation) -> dict[str, list[str]]:
    """The values of each single-choice parameter of the SDK's method
    (`Optional[Literal[...]]`, such as `sort_order`), keyed by its Python name."""
    out = {}
    for python_name, hint in _type_hints(op.function()).items():
        hint = _optional_of(hint)
        if typing.get_origin(hint) is typing.Literal:
            out[python_name] = list(typing.get_args(hint))
    return out


def _optional_of(hint):
    """`Optional[X]` -> X; anything else as it is."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _literal_list(hint) -> list[str] | None:
    """`Optional[List[Literal["a", "b"]]]` -> ["a", "b"]."""
    hint = _optional_of(hint)
    if typing.get_origin(hint) is not list:
        return None
    [item] = typing.get_args(hint)
    if typing.get_origin(item) is not typing.Literal:
        return None
    return list(typing.get_args(item))

"""A notebook's parameters: read them from the tagged cell, check and coerce values, build grids.

papermill injects parameters *after* the cell tagged ``parameters`` and only warns about unknown
names (papermill ``execute.py``: "Passed unknown parameter"), so a typo in a batch silently runs
the defaults. Here the tagged cell is parsed with :mod:`ast` (never executed) and every parameter
set is checked against it **before** any kernel starts:

* the names must be assigned in the tagged cell;
* values given as command-line strings are coerced to the type of the default
  (``int``, ``float``, ``bool``, ``str``; ``list``/``dict`` are read as a YAML/JSON literal);
* values from YAML (grid files, ``pipeline.yaml``) must already have that type
  (an ``int`` is accepted for a ``float`` default).

An annotation (``alpha: float = 0.05``) wins over the default's type, so ``fail_on: str = None``
declares a string parameter whose default is ``None``. A union annotation (``year: int | str =
2016``) declares a parameter of several types: its values are passed on as read (YAML from the
command line) and the notebook's own check validates them.

**Declared values.** A comment after a parameter declares the values it accepts, so that a bad
value is refused before any kernel starts (the notebook's own checks still run inside)::

    country = "BG"     # choices: BG, RO, GR, PT     (a list parameter: each element)
    alpha = 0.05       # range: (0, 1)                ( ) open, [ ] closed; one side may be empty
    level = "nuts3"    # lowest level; choices: nuts2, nuts3

The declaration is read with :mod:`tokenize` from the cell's text, never executed. A parameter
whose default is ``None`` and that has no annotation is read from the command line as YAML (a
number, a list ...); text that is not valid YAML is an error, and a YAML date stays the text it
was. Output-location parameters (``figures_dir``, ``results_dir``, ``build_dir``) are always text.
"""
from __future__ import annotations

import ast
import io
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

__all__ = ["Parameter", "ParameterError", "read_parameters", "coerce_value", "validate_parameters",
           "expand_grid", "load_grid_file", "describe_parameters", "load_yaml"]

class Yaml12Loader(yaml.SafeLoader):
    """YAML with only ``true``/``false`` as booleans (YAML 1.2), so country code ``NO`` stays "NO".

    PyYAML follows YAML 1.1, where ``NO``, ``yes``, ``on``, ``off`` are booleans: the Norway
    problem, real for Eurostat geo codes.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)


_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "list": list,
                           "dict": dict}


class ParameterError(ValueError):
    """A parameter set does not fit the notebook's ``parameters`` cell."""


#: parameters that choose output folders: always text, never part of a run's name
OUTPUT_PARAMETERS = frozenset({"figures_dir", "results_dir", "build_dir"})


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    type: str          # "int", "float", "bool", "str", "list", "dict" or "any"
    line: int          # line in the parameters cell, for messages
    choices: tuple | None = None     # declared with "# choices: a, b, c"
    bounds: tuple | None = None      # declared with "# range: (low, high)": (low, high, lo_closed, hi_closed)

    def describe(self) -> str:
        text = f"{self.name}: {self.type} = {self.default!r}"
        if self.choices:
            text += f"  (choices: {', '.join(map(str, self.choices))})"
        if self.bounds:
            lo, hi, lo_closed, hi_closed = self.bounds
            text += f"  (range: {'[' if lo_closed else '('}{'' if lo is None else lo}, " \
                    f"{'' if hi is None else hi}{']' if hi_closed else ')'})"
        return text

    def check_declared(self, value: Any) -> None:
        """Raise :class:`ParameterError` if ``value`` is outside the declared choices/range."""
        values = value if isinstance(value, (list, tuple)) else [value]
        if self.choices:
            allowed = {str(c) for c in self.choices}
            bad = [v for v in values if str(v) not in allowed]
            if bad:
                raise ParameterError(f"parameter {self.name!r}: {', '.join(map(repr, bad))} not "
                                     f"among the declared choices {', '.join(map(str, self.choices))}")
        if self.bounds:
            lo, hi, lo_closed, hi_closed = self.bounds
            for v in values:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                if (lo is not None and (v < lo or (v == lo and not lo_closed))) or \
                        (hi is not None and (v > hi or (v == hi and not hi_closed))):
                    raise ParameterError(f"parameter {self.name!r}: {v!r} outside the declared "
                                         f"range {self.describe().split('(range: ')[1][:-1]}")


_DECL = re.compile(r"\b(choices|range)\s*:\s*(.+?)\s*(?:;|$)")
_RANGE = re.compile(r"^([\[(])\s*([^,]*?)\s*,\s*([^,]*?)\s*([\])])$")


def _declarations(source: str) -> dict[int, dict[str, Any]]:
    """``{line: {"choices": (...), "bounds": (...)}}`` from the cell's comments."""
    import tokenize

    found: dict[int, dict[str, Any]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return found
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        for kind, text in _DECL.findall(tok.string.lstrip("#")):
            entry = found.setdefault(tok.start[0], {})
            if kind == "choices":
                entry["choices"] = tuple(c.strip().strip("'\"") for c in text.split(",") if c.strip())
            else:
                m = _RANGE.match(text)
                if m:
                    lo, hi = (float(x) if x else None for x in (m.group(2), m.group(3)))
                    entry["bounds"] = (lo, hi, m.group(1) == "[", m.group(4) == "]")
    return found


def _parameters_cell(nb: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def read_parameters(notebook: str | Path | Mapping[str, Any]) -> dict[str, Parameter]:
    """The parameters declared in the notebook's cell tagged ``parameters``, in order.

    ``notebook`` is a path or an already-loaded notebook dict. A notebook without such a cell
    has no parameters (an empty dict). Assignments whose value is not a literal get type "any".
    """
    where = str(notebook) if isinstance(notebook, (str, Path)) else "notebook"
    if isinstance(notebook, (str, Path)):
        try:
            nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ParameterError(f"{where}: cannot read notebook: {exc}") from exc
    else:
        nb = notebook
    cell = _parameters_cell(nb)
    if cell is None:
        return {}
    # Jupyter magics and shell escapes are not Python; blank them so ast can parse the rest.
    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in _source(cell).splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        raise ParameterError(f"{where}: the parameters cell is not valid Python "
                             f"(line {exc.lineno}: {exc.msg})") from exc
    params: dict[str, Parameter] = {}
    declared = _declarations("\n".join(lines))
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value, annotation = node.targets[0].id, node.value, None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value, annotation = node.target.id, node.value, node.annotation
        else:
            continue
        try:
            default = ast.literal_eval(value)
            typename = type(default).__name__ if type(default).__name__ in _TYPES else "any"
        except ValueError:
            default, typename = ast.unparse(value), "any"
        if isinstance(annotation, ast.Name) and annotation.id in _TYPES:
            typename = annotation.id
        elif isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            typename = "any"
        if name in OUTPUT_PARAMETERS and typename == "any":
            typename = "str"
        extra = declared.get(getattr(node, "end_lineno", node.lineno) or node.lineno, {})
        params[name] = Parameter(name, default, typename, node.lineno, extra.get("choices"),
                                 extra.get("bounds"))
    return params


def describe_parameters(params: Mapping[str, Parameter]) -> str:
    if not params:
        return "  (none: the notebook has no cell tagged 'parameters')"
    return "\n".join(f"  {p.describe()}" for p in params.values())


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce_value(param: Parameter, value: Any, *, from_text: bool) -> Any:
    """Convert ``value`` to ``param``'s type or raise :class:`ParameterError` saying why.

    ``from_text`` is True for command-line strings (parsed), False for YAML values (checked).
    """
    kind = param.type
    bad = ParameterError(f"parameter {param.name!r} expects {kind} (default {param.default!r}), "
                         f"got {value!r}")
    if kind == "any":
        return _any_from_text(param, value) if from_text and isinstance(value, str) else value
    if from_text and isinstance(value, str):
        text = value.strip()
        if kind == "str":
            return value
        if kind == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise bad
        if kind == "int":
            try:
                return int(text)
            except ValueError:
                raise bad from None
        if kind == "float":
            try:
                out = float(text)
            except ValueError:
                raise bad from None
            if math.isnan(out) or math.isinf(out):
                raise bad  # NaN/inf cannot be written into notebook metadata as JSON
            return out
        try:
            value = load_yaml(text)
        except yaml.YAMLError:
            raise bad from None
    # Typed values (YAML or parsed text). bool is a subclass of int: never accept it as a number.
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("int", "float") and isinstance(value, bool):
        raise bad
    if isinstance(value, _TYPES[kind]):
        return value
    raise bad


def _any_from_text(param: Parameter, value: str) -> Any:
    """A command-line value for a parameter without a type (default ``None``): YAML, but text
    that is not valid YAML is refused, and a YAML date/time stays text (JSON has no dates)."""
    import datetime

    try:
        parsed = load_yaml(value)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParameterError(f"parameter {param.name!r}: {value!r} is not a valid value "
                             f"(read as YAML: {first}); quote it to pass text") from None
    if isinstance(parsed, (datetime.date, datetime.datetime, datetime.time)):
        return value
    try:
        json.dumps(parsed, allow_nan=False)
    except (TypeError, ValueError):
        return value
    return parsed


def validate_parameters(params: Mapping[str, Any], declared: Mapping[str, Parameter], *,
                        from_text: bool = False, where: str = "notebook",
                        list_valid: bool = True) -> dict[str, Any]:
    """Check one parameter set against the declared parameters (names, types, declared choices
    and ranges); return the coerced values.

    Every problem in the set is reported together on one line, followed (``list_valid``) by the
    list of valid parameters.
    """
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in params.items():
        if name not in declared:
            problems.append(f"unknown parameter {name!r}")
            continue
        try:
            out[name] = coerce_value(declared[name], value, from_text=from_text)
            if value is not None or declared[name].default is not None:
                declared[name].check_declared(out[name])
        except ParameterError as exc:
            problems.append(str(exc))
    if problems:
        tail = (f"\nvalid parameters (name: type = default):\n{describe_parameters(declared)}"
                if list_valid else "")
        raise ParameterError(f"{where}: " + "; ".join(problems) + tail)
    return out


def expand_grid(axes: Mapping[str, Sequence[Any]] | None = None,
                sets: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The parameter sets of a batch: explicit ``sets`` crossed with the cartesian grid of ``axes``.

    ``expand_grid({"country": ["BG", "RO"], "alpha": [0.05]})`` gives two sets. Duplicates are
    dropped (first kept) so a resumed batch never runs the same set twice.
    """
    axes = dict(axes or {})
    base = [dict(s) for s in sets] if sets is not None else [{}]
    for s in base:
        clash = set(s) & set(axes)
        if clash:
            raise ParameterError(f"parameter(s) {sorted(clash)} given both in the grid file and with -p")
    names = list(axes)
    combos = [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for s in base:
        for combo in combos:
            merged = {**s, **combo}
            key = json.dumps(merged, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append(merged)
    return out


def load_grid_file(path: str | Path) -> tuple[dict[str, list[Any]], list[dict[str, Any]] | None]:
    """Read ``--grid`` YAML: a mapping name -> list (cartesian) or a list of explicit mappings.

    Returns ``(axes, sets)``; exactly one of them is non-empty/non-None.
    """
    path = Path(path)
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"{path}: cannot read grid file: {exc}") from exc
    if isinstance(doc, Mapping):
        axes = {}
        for name, values in doc.items():
            axes[str(name)] = list(values) if isinstance(values, list) else [values]
            if not axes[str(name)]:
                raise ParameterError(f"{path}: parameter {name!r} has an empty list of values")
        return axes, None
    if isinstance(doc, list):
        for i, item in enumerate(doc, 1):
            if not isinstance(item, Mapping):
                raise ParameterError(f"{path}: item {i} of the list is {type(item).__name__}, "
                                     "expected a mapping of parameter name -> value")
        return {}, [dict(item) for item in doc]
    raise ParameterError(f"{path}: expected a mapping (name -> list of values) or a list of "
                         f"parameter mappings, got {type(doc).__name__}")

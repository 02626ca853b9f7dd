"""A view of a version: which rows a viewer sees, in which order (sort, search, filters,
facets, whether the first record is the header, and the types a person set for
columns), parsed from an HTTP query or a tablecast.v1 message and checked against a
version. Pure: computing the rows a view shows is :mod:`tablecast.service.views`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..errors import TablecastError
from ..model import Version
from .columns import TYPES
from .parsing import parse_header_option

MAX_TEXT = 200  # characters in a search or a filter
MAX_FILTERS = 20
MAX_FACETS = 20  # columns a view may pick values of
MAX_FACET_VALUES = 50  # values picked, over all its facets
MAX_TYPES = 50  # columns whose type a view sets
MAX_NAME = 40  # characters of the name of whoever changed a shared view
# a shared view rides in a NOTIFY payload (at most 8000 bytes), escaped once more in there: at
# worst twice its bytes (every character a quote or a backslash), with the event's own fields
MAX_VIEW_BYTES = 3500


@dataclass(frozen=True)
class View:
    """Which rows a viewer sees: all of them in file order, unless it sorts or searches.
    ``header``: whether the first record is the header (None: as uploaded). ``by``: who set
    a shared view, to show; not part of what the view is. ``types``: the type a person set
    for some columns (see columns.TYPES), which their sorts read them as, by column."""

    sort: int | None = None
    descending: bool = False
    q: str = ""
    filters: tuple[tuple[int, str], ...] = ()
    # facets: rows whose cell in the column is exactly one of the values, (column, values)
    # sorted by column, values sorted
    facets: tuple[tuple[int, tuple[str, ...]], ...] = ()
    header: bool | None = None
    types: tuple[tuple[int, str], ...] = ()
    by: str = field(default="", compare=False)

    @property
    def picks(self) -> bool:
        """Sorts or searches: its rows are not simply the version's, in order."""
        return self.sort is not None or bool(self.q) or bool(self.filters) or bool(self.facets)

    def facet(self, column: int) -> tuple[str, ...]:
        """The values picked in ``column`` (none: no facet on it)."""
        return next((values for c, values in self.facets if c == column), ())

    def without_facet(self, column: int) -> View:
        """The view with no facet on ``column`` (what that column's facet counts count)."""
        return replace(self, facets=tuple(f for f in self.facets if f[0] != column))

    def as_dict(self) -> dict[str, Any]:
        return {
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
            "q": self.q,
            "filters": {str(column): text for column, text in self.filters},
            "facets": {str(column): list(values) for column, values in self.facets},
            "header": self.header,
            "types": {str(column): name for column, name in self.types},
            "by": self.by or None,
        }

    def encode(self) -> str:
        """As the store keeps a shared view ("" for the plain one)."""
        return orjson.dumps(self.as_dict()).decode() if self != PLAIN or self.by else ""

    def type_of(self, column: int) -> str | None:
        """The type a person set for the column, if one did."""
        return dict(self.types).get(column)

    def typed(self, types: list[str] | None) -> list[str] | None:
        """Columns' types as inferred (None: not known yet) with the view's set over them."""
        if types is None or not self.types:
            return types
        effective = list(types)
        for column, name in self.types:
            if column < len(effective):
                effective[column] = name
        return effective

    def on(self, version: Version | None) -> Version | None:
        """The version as this view reads it: with its header switched, if the view does."""
        if version is None or self.header is None or self.header == version.meta.has_header:
            return version
        return replace(version, meta=replace(version.meta, has_header=self.header))

    def check(self, version: Version | None) -> None:
        """A view names only columns the version has."""
        width = version.meta.width if version is not None else 0
        columns = (*(c for c, _ in self.filters), *(c for c, _ in self.facets))
        for column in (self.sort, *columns, *(c for c, _ in self.types)):
            if column is not None and column >= width:
                raise TablecastError("bad_option", f"the table has no column {column}")


PLAIN = View()


def view_from_query(
    get: Callable[[str], str | None],
    names: list[str],
    get_all: Callable[[str], list[str]] | None = None,
) -> View:
    """A view from HTTP query parameters: ``sort``, ``order``, ``q``, ``filter.N``,
    ``facet.N`` (repeatable: each a value picked), ``header``, ``type.N``. ``names``: every
    parameter name in the query, for the filters, facets and types; ``get_all``: every
    value of a parameter (none given: one each)."""
    sort = get("sort")
    order = get("order")
    header = get("header")
    filters = {
        name[len("filter.") :]: get(name) or "" for name in names if name.startswith("filter.")
    }
    types = {name[len("type.") :]: get(name) or "" for name in names if name.startswith("type.")}
    every = get_all or (lambda name: [get(name) or ""])
    facets = {name[len("facet.") :]: every(name) for name in names if name.startswith("facet.")}
    return _view(
        None if sort in (None, "") else _column(sort, "sort"),
        order or "asc",
        get("q") or "",
        filters,
        parse_header_option(header) if header else None,  # none: the version's own
        "",
        types,
        facets,
    )


def view_from_message(obj: Mapping[str, Any]) -> View:
    """A view from a tablecast.v1 ``view`` message (see docs/protocol.md)."""
    sort, header, filters = obj.get("sort"), obj.get("header"), obj.get("filters")
    filters = {} if filters is None else filters
    types = obj.get("types")
    types = {} if types is None else types
    facets = obj.get("facets")
    facets = {} if facets is None else facets
    q, order, by = obj.get("q") or "", obj.get("order") or "asc", obj.get("by") or ""
    if sort is not None and (isinstance(sort, bool) or not isinstance(sort, int)):
        raise TablecastError("bad_option", "sort must be a column number (0 is the first)")
    if header is not None and not isinstance(header, bool):
        raise TablecastError("bad_option", "header must be true, false or null")
    if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
        raise TablecastError("bad_option", "filters must map column numbers to text")
    if not isinstance(types, dict) or not all(isinstance(v, str) for v in types.values()):
        raise TablecastError("bad_option", "types must map column numbers to type names")
    if not isinstance(q, str) or not isinstance(order, str) or not isinstance(by, str):
        raise TablecastError("bad_option", "q, order and by must be strings")
    if not isinstance(facets, dict) or not all(
        isinstance(values, list) and all(isinstance(v, str) for v in values)
        for values in facets.values()
    ):
        raise TablecastError("bad_option", "facets must map column numbers to lists of text")
    return _view(sort, order, q, filters, header, by, types, facets)


def _view(
    sort: int | None,
    order: str,
    q: str,
    filters: Mapping[str, str],
    header: bool | None,
    by: str,
    types: Mapping[str, str],
    facets: Mapping[str, list[str]] | None = None,
) -> View:
    if sort is not None and sort < 0:
        raise TablecastError("bad_option", "sort must be a column number (0 is the first)")
    if order not in ("asc", "desc"):
        raise TablecastError("bad_option", "order must be asc or desc")
    if len(filters) > MAX_FILTERS:
        raise TablecastError("bad_option", f"at most {MAX_FILTERS} filters")
    if len(types) > MAX_TYPES:
        raise TablecastError("bad_option", f"a view sets at most {MAX_TYPES} columns' types")
    if any(name and name not in TYPES for name in types.values()):  # (not echoed: any size)
        raise TablecastError("bad_option", f"a column's type is one of {', '.join(TYPES)}")
    texts = [q, *filters.values()]
    if any(len(text) > MAX_TEXT for text in texts):
        raise TablecastError("bad_option", f"a search is at most {MAX_TEXT} characters")
    by = "".join(c for c in by if c.isprintable())[:MAX_NAME]
    picked = _facets(facets or {})
    view = View(
        sort=sort,
        descending=order == "desc",
        q=q,
        filters=tuple(
            sorted((_column(column, "filter"), text) for column, text in filters.items() if text)
        ),
        facets=picked,
        header=header,
        # one type a column ("1" and "01" name the same one: the last given is kept)
        types=tuple(
            sorted({_column(c, "type"): name for c, name in types.items() if name}.items())
        ),
        by=by,
    )
    if len(view.encode()) > MAX_VIEW_BYTES:
        raise TablecastError(
            "bad_option", "the searches, filters, facets and types are too long together"
        )
    return view


def _facets(facets: Mapping[str, list[str]]) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Facets as a view keeps them: by column, each column's values sorted, once each. A
    column with no value picked has no facet."""
    if len(facets) > MAX_FACETS:
        raise TablecastError("bad_option", f"at most {MAX_FACETS} facets")
    if sum(len(values) for values in facets.values()) > MAX_FACET_VALUES:
        raise TablecastError("bad_option", f"at most {MAX_FACET_VALUES} facet values in all")
    if any(len(value) > MAX_TEXT for values in facets.values() for value in values):
        raise TablecastError("bad_option", f"a facet value is at most {MAX_TEXT} characters")
    picked: dict[int, set[str]] = {}
    for column, values in facets.items():  # ("facet.2" and "facet.02" name one column)
        if values:
            picked.setdefault(_column(column, "facet"), set()).update(values)
    return tuple(sorted((column, tuple(sorted(values))) for column, values in picked.items()))


def view_from_json(text: str) -> View:
    """A view as View.encode wrote it ("": the plain view)."""
    return view_from_message(orjson.loads(text)) if text else PLAIN


def _column(text: str, what: str) -> int:
    # ASCII digits only: str.isdigit() also takes a superscript 2 (which int() refuses) and an
    # Arabic-Indic 1 (which int() reads as 1)
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise TablecastError("bad_option", f"{what} must name a column by number (0 is the first)")
    return int(text)

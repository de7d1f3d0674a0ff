"""records.tables.remember_render_signatures: django-tables2 asks each render method's
parameters once per code object, not once per cell, and still gets them right."""

from __future__ import annotations

import functools
import inspect

from django_tables2 import utils


class Column:
    def render(self, value, record):
        return value


def test_a_render_method_is_inspected_once(monkeypatch):
    calls = []
    inspect_signature = inspect.signature

    def counting(fn, **kwargs):
        calls.append(fn)
        return inspect_signature(fn, **kwargs)

    monkeypatch.setattr(utils.inspect, "signature", counting)

    class Fresh:  # a code object the cache has not seen
        def render(self, value, table, **kwargs):
            return value

    assert utils.signature(Fresh().render) == (("value", "table"), "kwargs")
    assert utils.signature(Fresh().render) == (("value", "table"), "kwargs")
    assert len(calls) == 1


def test_bound_and_unbound_methods_keep_their_own_parameters():
    assert utils.signature(Column().render) == (("value", "record"), None)
    assert utils.signature(Column.render) == (("self", "value", "record"), None)


def test_functions_that_wrap_another_have_the_wrapped_ones_parameters():
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            return fn(*args, **kwargs)

        return wrapper

    @decorate
    def one(value):
        return value

    @decorate
    def two(record, table):
        return record

    # Both are the same code (wrapper): remembering by code would mix them up.
    assert utils.signature(one) == (("value",), None)
    assert utils.signature(two) == (("record", "table"), None)

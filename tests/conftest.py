"""Suite-wide fixtures: every test starts from the built-in op table, whatever ran before it."""

import signal

import pytest

from symdiff import nn
from symdiff.nn import custom
from symdiff.ops import OPS


@pytest.fixture(autouse=True)
def _isolated_op_table():
    """Drop the user ops a test registers, so later tests (which walk the op table) see only built-in ops."""
    tables = (OPS, custom._MODULES, nn.ACTIVATIONS)
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt here even when the suite was started with SIGINT ignored (a background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)

"""The fixtures every test module shares: the template (as written and as SAM expands it)
and the partitions shared/store/src/keys.rs builds. The helpers live in sam_template.py and
keys_rs.py, which this directory's tests import directly (pytest puts the directory on
sys.path: it has no __init__.py)."""

import pytest

from keys_rs import KEYS_RS, partition_patterns
from sam_template import expand, load


@pytest.fixture(scope="module")
def source():
    return load()


@pytest.fixture(scope="module")
def expanded(source):
    return expand(source)


@pytest.fixture(scope="module")
def kinds():
    return partition_patterns(KEYS_RS.read_text())

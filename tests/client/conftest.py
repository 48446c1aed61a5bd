"""Client fixtures for fixed_client's integration tests (real etcd from tests/conftest.py).

fixed_client is imported inside the fixtures, not at the top, so collecting keylint-only tests
never needs grpc.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fixed_client import Client

    from etcd_harness import EtcdServer

@pytest.fixture
def client(etcd: EtcdServer) -> Iterator[Client]:
    from fixed_client import Client

    with Client([etcd.endpoint], timeout=5.0) as c:
        yield c

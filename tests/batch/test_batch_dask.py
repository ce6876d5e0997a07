"""The batch on a real dask.distributed LocalCluster (worker processes) against a loopback
server: ``tox -e dask``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from batch_support import OPTIONS, check_echoes, echo_server, requests_for
from loopback import LoopbackServer

from llmcore import Client
from llmcore_openai import openai_compatible

pytestmark = pytest.mark.dask


def _worker_clients() -> int:
    from llmcore import batching

    return len(batching._worker_clients)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    import distributed  # only in the dask env (the default env deselects these tests)

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=4, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_a_thousand_requests_through_a_local_cluster(
    dask_client: Any, server: LoopbackServer
) -> None:
    server.responder = echo_server(fail_every=10)
    client = Client(openai_compatible(server.base_url + "/v1"), options=OPTIONS)
    results = client.chat_completion_batch(
        requests_for(1000), concurrency=32, executor=dask_client.get_executor()
    )
    check_echoes(results, 1000)
    assert len(server.requests) == 1000
    # Each worker process built its client once (for this spec) and reused it.
    per_worker = dask_client.run(_worker_clients)
    assert sorted(per_worker.values()) == [1, 1]
    client.close()

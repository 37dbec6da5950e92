"""Workers run only gapviz's own jobs: a JSON job naming os.makedirs (real Redis, real worker) is refused."""

from __future__ import annotations

import subprocess

import pytest
from queue_fixtures import log_tail, start_worker
from rq import Callback, Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from gapviz.queue import allowlist
from gapviz.queue.client import DEFAULT_QUEUE, FAILURE_CALLBACK, JOB_FUNC


def _queue(connection) -> Queue:
    return Queue(DEFAULT_QUEUE, connection=connection, serializer=JSONSerializer)


def test_the_allow_list_names_what_is_wrong(conn):  # noqa: F811 - the fixture
    foreign = Job.create("os.makedirs", args=("/tmp/x",), connection=conn, serializer=JSONSerializer)
    assert "'os.makedirs' is not a gapviz job" in allowlist.job_problem(foreign)
    own = Job.create(
        JOB_FUNC, args=("run-1",), connection=conn, serializer=JSONSerializer, on_failure=Callback(FAILURE_CALLBACK)
    )
    assert allowlist.job_problem(own) is None
    sneaky = Job.create(
        JOB_FUNC, args=("run-1",), connection=conn, serializer=JSONSerializer, on_failure=Callback("os.makedirs")
    )
    assert "on_failure callback 'os.makedirs' is not gapviz's" in allowlist.job_problem(sneaky)


@pytest.mark.slow  # over 2 s: out of the fast lane
def test_a_worker_refuses_a_job_naming_os_makedirs(conn, redis_server, tmp_path):  # noqa: F811 - fixtures
    """issue 10.4: a JSON job naming os.makedirs was executed by the worker."""
    target, via_callback = tmp_path / "made-by-a-job", tmp_path / "made-by-a-callback"
    queue = _queue(conn)
    job = queue.enqueue("os.makedirs", args=(str(target),))
    sneaky = queue.enqueue(
        JOB_FUNC, args=("no-such-run",), on_failure=Callback("os.makedirs"), meta={"run_id": str(via_callback)}
    )
    log = tmp_path / "worker.log"
    worker = start_worker(tmp_path / "home", redis_server.url, "--burst", "--skip-umap-warmup", log=log)
    try:
        assert worker.wait(300) == 0, log_tail(log)
    except subprocess.TimeoutExpired:
        worker.kill()
        raise
    assert not target.exists() and not via_callback.exists()
    for refused, reason in ((job, "'os.makedirs' is not a gapviz job"), (sneaky, "on_failure callback 'os.makedirs'")):
        refused.refresh()
        assert refused.get_status() == JobStatus.FAILED
        assert reason in refused.latest_result().exc_string
    assert "refused job" in log.read_text() and "Traceback" not in log.read_text()

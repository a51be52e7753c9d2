"""The same verification on the three executors: a local process pool, a real
``dask.distributed.LocalCluster`` and a real local Ray instance, each with 2 workers. Workers of
the clusters write into temporary folders of their own; the arms' logs come back as bytes."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import lossdoctor  # noqa: E402

HERE = Path(__file__).parent
SCRIPT = str(HERE / "tiny_train.py")
ARMS = ["lr_x10", "reinit", "bias_zero"]

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    import subprocess

    d = tmp_path_factory.mktemp("base")
    subprocess.run([sys.executable, SCRIPT, "--lr", "3e-4", "--log", str(d / "base.jsonl")], check=True,
                   capture_output=True)
    return d / "base.jsonl"


def _run(out, baseline, **kw):
    return lossdoctor.verify([sys.executable, SCRIPT, "--lr", "3e-4"], log=baseline, out=out, arms=ARMS,
                             all_arms=True, **kw)


def _answer(dx):
    return ({c.id: c.verdict for c in dx.causes}, [(a.arm, a.outcome) for a in dx.verification])


@pytest.fixture(scope="module")
def local(baseline, tmp_path_factory):
    return _run(tmp_path_factory.mktemp("local"), baseline, executor="local", jobs=2)


def test_local_pool(local):
    verdicts, arms = _answer(local)
    assert verdicts["lr_too_low"] == "confirmed"
    assert sorted(a for a, _ in arms) == sorted(ARMS)


def test_dask_local_cluster_gives_the_same_verdicts(tmp_path, baseline, local):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        dx = _run(tmp_path / "o", baseline, executor="dask", address=cluster.scheduler_address)
    assert _answer(dx) == _answer(local)
    for arm in ARMS:  # shipped back from the workers' own folders
        assert lossdoctor.read(tmp_path / "o" / arm / "run.jsonl").loss is not None


def test_ray_local_instance_gives_the_same_verdicts(tmp_path, baseline, local):
    ray = pytest.importorskip("ray")
    info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        assert ray.cluster_resources()["CPU"] == 2
        dx = _run(tmp_path / "o", baseline, executor="ray", address=info.address_info["address"])
    finally:
        ray.shutdown()
    assert _answer(dx) == _answer(local)
    for arm in ARMS:
        assert lossdoctor.read(tmp_path / "o" / arm / "run.jsonl").loss is not None


def test_an_unreachable_cluster_is_a_clear_error(tmp_path, baseline, monkeypatch):
    pytest.importorskip("distributed")
    from lossdoctor.verify import executors
    from lossdoctor.verify.executors import ExecutorError

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 3)
    with pytest.raises(ExecutorError, match="cannot reach the dask scheduler"):
        _run(tmp_path / "o", baseline, executor="dask", address="tcp://127.0.0.1:9")

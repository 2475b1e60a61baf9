"""Which GPU each local worker's runner sees (`svlab serve --workers N` on a GPU machine)."""

from svlab.work.tasks.execution.devices import runner_gpus, visible_gpus


def test_workers_take_the_gpus_round_robin():
    assert runner_gpus(5, "auto", ["0", "1"]) == ["0", "1", "0", "1", "0"]
    assert runner_gpus(2, "cuda", ["3", "5", "7"]) == ["3", "5"]
    assert runner_gpus(3, "auto", []) == [None, None, None]  # a CPU: as today
    assert runner_gpus(2, "cpu", ["0", "1"]) == [None, None]  # told to stay on the CPU


def test_the_gpus_are_counted_as_the_driver_lists_them_narrowed_by_cuda_visible(tmp_path):
    listing = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:41:00.0", "0000:81:00.0"):
        (listing / bus).mkdir(parents=True)
    assert visible_gpus({}, listing) == ["0", "1", "2"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 0"}, listing) == ["2", "0"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}, listing) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, listing) == []
    assert visible_gpus({}, tmp_path / "no-driver") == []


def test_the_server_gives_its_local_workers_their_gpus(tmp_path, monkeypatch):
    from svlab.run.settings import load_config
    from svlab.work.tasks.api.app import make_workers
    from svlab.work.tasks.execution.data_folder import DataFolder
    from svlab.work.tasks.execution.store import TaskStore

    data = DataFolder.create(tmp_path / "data")
    store = TaskStore(data.database)
    config = load_config("cpu-tiny", overrides={"model": "fallback", "device": "auto"})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    workers = make_workers(store, data, config, 60.0, preload=False, workers=3, ray=None,
                           ray_address=None)
    assert [(w.name, w.gpu) for w in workers] == [
        ("worker-1", "4"), ("worker-2", "6"), ("worker-3", "4")]
    assert workers[1].views()[0]["gpu"] == "6"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    workers = make_workers(store, data, config, 60.0, preload=False, workers=2, ray=None,
                           ray_address=None)
    assert [w.gpu for w in workers] == [None, None]

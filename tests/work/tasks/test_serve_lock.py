"""One server per data folder: a second `svlab serve` on it is refused in one line, and the
first one's work is untouched."""

from __future__ import annotations

import subprocess

import pytest
from servers import SERVE, SERVE_SETTINGS, Server, free_port

from svlab.core.errors import InputError
from svlab.work.tasks.execution.data_lock import data_folder_lock


def test_the_lock_is_exclusive_and_released(tmp_path):
    with data_folder_lock(tmp_path / "data"):
        with pytest.raises(InputError, match="another svlab serve .* uses the data folder"):
            with data_folder_lock(tmp_path / "data"):
                pass
    with data_folder_lock(tmp_path / "data"):  # free again once the first one ended
        pass


def test_a_second_server_on_one_data_folder_is_refused_in_one_line(tmp_path):
    data = tmp_path / "data"
    first = Server(data)
    try:
        staging = data / "videos" / ".t1.abcd.staging"  # as a running task's
        staging.mkdir(parents=True)
        second = subprocess.run([*SERVE, "--port", str(free_port()), "--data", str(data),
                                 *SERVE_SETTINGS], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert second.stderr.count("\n") == 1 and "another svlab serve" in second.stderr
        assert staging.is_dir()  # its start-up cleanup never ran
        assert first.client.get("/api/health").status_code == 200
    finally:
        first.stop()

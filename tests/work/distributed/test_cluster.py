"""Joining Ray: an unreachable head is one clear error at once, not minutes of Ray's retries."""

import socket
import subprocess
import sys

import pytest

pytest.importorskip("ray")

from svlab.work.distributed.cluster import check_reachable  # noqa: E402
from svlab.core.errors import InputError  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_head_is_named_before_ray_is_asked(tmp_path):
    port = free_port()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(InputError, match=f"cannot reach the Ray head at '{address}'"):
            check_reachable(address)
    # the whole path, in a process of its own (Ray alone would retry for minutes)
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base: {model: fallback}\ninputs: [{prompt: a lighthouse}]\n"
                    "runs: [{seed: 1}]\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from svlab.face.cli import main; raise SystemExit(main())",
         "sweep", str(spec), "--out", str(tmp_path / "out"), "--ray", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()  # Ray is joined before the sweep's bar is drawn
    assert len(lines) == 1 and "cannot reach the Ray head" in lines[0], proc.stderr


def test_a_listening_head_and_auto_pass_the_check():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        check_reachable(f"127.0.0.1:{s.getsockname()[1]}")
    check_reachable("auto")

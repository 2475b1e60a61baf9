"""Names and text that are not valid UTF-8 (file names, prompts, SVLAB_MODEL) and terminals
that cannot show CJK: the manifest is written, the command ends cleanly, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PIL import Image

SVLAB = [sys.executable, "-c", "import sys; from svlab.face.cli import main; sys.exit(main())"]
TINY = [b"--model", b"fallback", b"--profile", b"cpu-tiny", b"--frames", b"2"]


def test_non_utf8_names_and_prompts_end_in_a_manifest(tmp_path):
    folder = os.fsencode(tmp_path)
    image = folder + b"/ph\xffoto.png"
    Image.new("RGB", (64, 48), (1, 2, 3)).save(os.fsdecode(image))
    out = folder + b"/cl\xfeip.mp4"
    env = {**os.environ, "SVLAB_MODEL": os.fsdecode(b"m\xff")}
    proc = subprocess.run([*(a.encode() for a in SVLAB), b"generate", b"--image", image,
                           b"--prompt", b"a \xff prompt", b"--out", out, *TINY],
                          capture_output=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    manifest = json.loads(open(folder + b"/cl\xfeip.json", encoding="utf-8").read())
    assert manifest["inputs"]["prompt"] == "a \\xff prompt"
    assert manifest["output"]["video"] == "cl\\xfeip.mp4"


def test_a_cjk_prompt_on_an_ascii_terminal(tmp_path):
    Image.new("RGB", (64, 48), (1, 2, 3)).save(tmp_path / "p.png")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run([*SVLAB, "generate", "--image", str(tmp_path / "p.png"),
                           "--prompt", "森林探险", "--out", str(tmp_path / "森林.mp4"),
                           *(a.decode() for a in TINY)],
                          capture_output=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr and "\\u68ee".encode() in proc.stdout
    assert (tmp_path / "森林.json").is_file()


def test_manifest_text_holds_any_python_string():
    from svlab.core.manifest import manifest_text

    text = manifest_text({"name": os.fsdecode(b"a\xff"), "lone": "\ud800", "k\udcfe": 1})
    data = json.loads(text.encode("utf-8"))
    assert data == {"name": "a\\xff", "lone": "\ufffd", "k\\xfe": 1}

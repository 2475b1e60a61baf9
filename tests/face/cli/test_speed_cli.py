"""`svlab speed`: the baseline and each method of the family on one seed, in one JSON object."""

import json

from svlab.face.cli import main


def test_speed_reports_each_method_against_the_baseline(capsys, photo_file):
    code = main(["speed", "tiny-ltx", "--image", str(photo_file), "--steps", "4", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    runs = {r["method"]: r for r in report["runs"]}
    assert list(runs) == [None, "first_block", "taylorseer", "pyramid_attention"]
    base = runs.pop(None)
    assert base["speedup"] == 1.0 and base["psnr"] == "inf" and base["block_work"] > 0
    assert runs["first_block"]["threshold"] == 0.05 and runs["taylorseer"]["threshold"] == 5
    for run in runs.values():
        assert run["seconds"] > 0 and run["block_work"] <= base["block_work"]
        assert run["work_fraction"] == run["block_work"] / base["block_work"]


def test_speed_refuses_a_method_the_family_cannot_take(capsys, photo_file):
    code = main(["speed", "tiny", "--image", str(photo_file), "--methods", "first_block"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot run on the svd family; accepted: none" in err

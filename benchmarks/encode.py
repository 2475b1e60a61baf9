"""write_video versus the same ffmpeg binary encoding the same raw frames from the command line.

Claim: encoding 25 frames of 1024x576 from numpy takes at most 1.1x the time of
`ffmpeg -f rawvideo -pix_fmt rgb24 -s 1024x576 -framerate 6 -i frames.rgb <same settings> out.mp4`.
Both sides use `encode_args`, so the encoder settings are identical; the only difference is
that write_video pipes the frames from memory instead of ffmpeg reading them from a file. The
frames are real footage: the fallback engine's slow zoom over a photograph. Runs alternate
between the two sides so that load from other processes hits both alike.

Run: .venv/bin/python benchmarks/encode.py  ->  benchmarks/results/encode.json
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from photo import photograph

from svlab.media.fallback import fallback_frames
from svlab.media import probe, write_video
from svlab.media.ffmpeg import ffmpeg_exe
from svlab.media.video_io import encode_args

WIDTH, HEIGHT, FRAMES, FPS, REPEATS, TARGET = 1024, 576, 25, 6, 7, 1.1
RESULT = Path(__file__).with_name("results") / "encode.json"


def main() -> dict:
    image = photograph()
    frames = fallback_frames(width=WIDTH, height=HEIGHT, num_frames=FRAMES, fps=FPS, seed=0,
                             image=image, text=None if image else "benchmark")
    ours, reference = [], []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        raw = work / "frames.rgb"
        frames.tofile(raw)
        args = encode_args(WIDTH, HEIGHT, FPS)
        args[args.index("-i") + 1] = str(raw)  # the same arguments, reading the file
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args,
                   "-y", str(work / "reference.mp4")]
        write_video(frames, work / "warm.mp4", FPS)  # page cache, lazy imports
        for _ in range(REPEATS):
            start = time.perf_counter()
            write_video(frames, work / "ours.mp4", FPS)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(command, check=True)
            reference.append(time.perf_counter() - start)
        facts = probe(work / "ours.mp4")
        sizes = {"ours": (work / "ours.mp4").stat().st_size,
                 "reference": (work / "reference.mp4").stat().st_size}
    ratio = statistics.median(ours) / statistics.median(reference)
    result = {
        "claim": f"write_video takes at most {TARGET}x the ffmpeg command line on the same frames",
        "frames": FRAMES, "width": WIDTH, "height": HEIGHT, "fps": FPS,
        "content": "fallback Ken Burns over " + (Path(image).name if image else "a text card"),
        "reference_command": " ".join(["ffmpeg", *args, "-y", "reference.mp4"]).replace(
            str(raw), "frames.rgb"),
        "repeats": REPEATS,
        "ours_seconds": [round(t, 4) for t in ours],
        "reference_seconds": [round(t, 4) for t in reference],
        "ours_median_s": round(statistics.median(ours), 4),
        "reference_median_s": round(statistics.median(reference), 4),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET,
        "passed": ratio <= TARGET,
        "output": {k: facts[k] for k in ("codec", "pixel_format", "frames", "fps")},
        "file_bytes": sizes,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "ffmpeg": ffmpeg_exe()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main()
    print(f"write_video {r['ours_median_s']:.3f} s vs ffmpeg CLI {r['reference_median_s']:.3f} s: "
          f"ratio {r['ratio']:.3f} (target <= {TARGET}) -> {RESULT}")

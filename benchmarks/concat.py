"""concat_videos on compatible clips versus ffmpeg's own stream-copy concat of the same files.

Claim: joining compatible clips takes at most 1.2x `ffmpeg -f concat -safe 0 -i list -c copy
out.mp4`, and the packets are copied, not re-encoded. concat_videos also checks that the clips
are compatible (in the same ffmpeg run), adds +faststart and writes atomically; the reference
is the bare command. Clips: three 25-frame 1024x576 fallback videos (camera moves over a
photograph, different seeds) made with write_video's default settings.

Run: .venv/bin/python benchmarks/concat.py  ->  benchmarks/results/concat.json
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

from svlab.run.settings import load_config
from svlab.media.fallback import fallback_frames
from svlab.media import concat_videos, probe, write_video
from svlab.media.concat import write_concat_list
from svlab.media.ffmpeg import ffmpeg_exe, packets

CLIPS, REPEATS, TARGET = 3, 9, 1.2
RESULT = Path(__file__).with_name("results") / "concat.json"


def main() -> dict:
    config = load_config("standard")
    image = photograph()
    ours, reference = [], []
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        clips = []
        for seed in range(CLIPS):
            frames = fallback_frames(width=config.width, height=config.height,
                                     num_frames=config.num_frames, fps=config.fps, seed=seed,
                                     image=image, text=None if image else f"clip {seed}")
            clips.append(write_video(frames, work / f"clip{seed}.mp4", config.fps))
        list_file = write_concat_list(clips, work / "list.txt")
        command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-f", "concat", "-safe", "0", "-i", str(list_file), "-c", "copy",
                   "-y", str(work / "reference.mp4")]
        result = concat_videos(clips, work / "warm.mp4")  # page cache
        for _ in range(REPEATS):
            start = time.perf_counter()
            result = concat_videos(clips, work / "ours.mp4")
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(command, check=True)
            reference.append(time.perf_counter() - start)
        copied = [p.checksum for p in packets(work / "ours.mp4")] == \
            [p.checksum for clip in clips for p in packets(clip)]
        facts = probe(work / "ours.mp4")
        input_bytes = sum(clip.stat().st_size for clip in clips)
    ratio = statistics.median(ours) / statistics.median(reference)
    out = {
        "claim": f"concat_videos on compatible clips takes at most {TARGET}x ffmpeg's "
                 "stream-copy concat, and copies the packets",
        "clips": CLIPS, "clip": {"frames": config.num_frames, "width": config.width,
                                 "height": config.height, "fps": config.fps},
        "input_bytes": input_bytes,
        "reference_command": "ffmpeg -f concat -safe 0 -i list.txt -c copy -y reference.mp4",
        "repeats": REPEATS,
        "ours_seconds": [round(t, 4) for t in ours],
        "reference_seconds": [round(t, 4) for t in reference],
        "ours_median_s": round(statistics.median(ours), 4),
        "reference_median_s": round(statistics.median(reference), 4),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET,
        "method": result["method"],
        "packets_identical_to_inputs": copied,
        "output_frames": facts["frames"],
        "passed": ratio <= TARGET and result["method"] == "copy" and copied,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "load_average_1min":
                    round(os.getloadavg()[0], 2)},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    r = main()
    print(f"concat_videos {r['ours_median_s']:.4f} s vs ffmpeg -c copy "
          f"{r['reference_median_s']:.4f} s: ratio {r['ratio']:.3f} (target <= {TARGET}), "
          f"method {r['method']}, packets identical: {r['packets_identical_to_inputs']} "
          f"-> {RESULT}")

"""The training curves of `mini` from its JSON logs: the VAE's reconstruction PSNR (training
batches and held-out clips), the decoder's, and the UNet's loss, against steps.

Run: .venv/bin/python training/plot_mini.py  ->  docs/images/mini-training.png
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from train_mini import OUT  # noqa: E402

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "images" / "mini-training.png"


def read(stage: str) -> list[dict]:
    path = OUT / f"{stage}_log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def smooth(values: list[float], window: int = 8) -> list[float]:
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def main() -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for stage, colour in (("vae", "tab:blue"), ("decoder", "tab:orange")):
        rows = [r for r in read(stage) if "psnr" in r]
        if rows:
            left.plot([r["step"] for r in rows], smooth([r["psnr"] for r in rows]),
                      color=colour, alpha=0.6, label=f"{stage}: training batches (smoothed)")
        held = [r for r in read(stage) if "eval_psnr" in r]
        if held:
            left.plot([r["step"] for r in held], [r["eval_psnr"] for r in held], "o-",
                      color=colour, label=f"{stage}: held-out clips")
    left.set(xlabel="step (each stage counts its own)", ylabel="reconstruction PSNR (dB)",
             title="VAE: how well a frame survives encode + decode")
    left.legend(fontsize=8)
    rows = read("unet")
    if rows:
        right.plot([r["step"] for r in rows], [r["loss"] for r in rows], color="grey", alpha=0.4,
                   label="every 25 steps")
        right.plot([r["step"] for r in rows], smooth([r["loss"] for r in rows]), color="black",
                   label="smoothed")
    right.set(xlabel="step", ylabel="EDM-weighted loss", yscale="log",
              title="UNet: denoising loss (4 clips x 8 frames a step)")
    right.legend(fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    print(FIGURE)


if __name__ == "__main__":
    main()

"""Train svlab's `mini` image-to-video model: Stable Video Diffusion's architecture, small.

One file in nanoGPT's manner: a config dataclass, a loop, checkpoints, plain JSON logging.
Two stages, run one after the other (the UNet learns in the latent space the VAE made):

    python training/train_mini.py --stage data            # the clips (about 2 minutes)
    python training/train_mini.py --stage vae   --minutes 30
    python training/train_mini.py --stage unet  --minutes 90
    python training/train_mini.py --stage decoder --minutes 90  # beside the UNet: optional
    python training/train_mini.py --stage export          # the diffusers folder svlab ships

Each stage resumes from its last checkpoint (`<SVLAB_TRAIN_DIR>/<stage>.pt`), so a run cut short
continues where it stopped; `--minutes` is this sitting's budget. Seeded: the same commands on
the same machine give the same weights. The recipe is SVD's (Blattmann et al. 2023, as in
diffusers' community fine-tuning scripts): EDM preconditioning with v-prediction, sigma drawn
log-normally, the noise-augmented first frame's latent concatenated to every frame, the CLIP
embedding of the first frame as the cross-attention context, and (fps - 1, motion bucket,
noise augmentation) as added time ids, exactly what `StableVideoDiffusionPipeline` passes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from svlab.models.svd_configs import MINI_IMAGE_ENCODER, MINI_UNET, MINI_VAE

# Checkpoints, logs and the clip file live outside the work tree (a fresh clone does not lose
# them on a machine that is kept, and they are never committed); SVLAB_TRAIN_DIR moves them.
OUT = Path(os.environ.get("SVLAB_TRAIN_DIR") or "~/.cache/svlab/train-mini").expanduser()


@dataclass
class Config:
    """How to train; the architecture is `svlab.models.svd_configs`' MINI_* (one source)."""

    size: int = 64
    frames: int = 8
    seed: int = 0
    threads: int = 2
    # VAE: trained on crops (it is convolutional), L1 + MSE + a tiny KL term
    # Whole 64x64 frames: the norms' statistics are then those the VAE meets in use (32x32
    # crops, four times cheaper, left full frames off in colour).
    vae_batch: int = 2  # clips of `vae_frames` frames
    vae_frames: int = 4
    vae_crop: int | None = None
    vae_lr: float = 5e-4
    vae_kl: float = 1e-6  # keeps the latents bounded
    vae_colour: float = 5.0
    # UNet: SVD's EDM recipe
    unet_batch: int = 4
    unet_lr: float = 2e-4
    p_mean: float = 0.5
    p_std: float = 1.4
    cond_drop: float = 0.05  # both conditions dropped together, as the pipeline's negative
    warmup: int = 100
    log_every: int = 25
    save_every_s: float = 300.0
    eval_clips: int = 64


def vae_config(cfg: Config) -> dict:
    return dict(MINI_VAE)


def unet_config(cfg: Config) -> dict:
    return dict(MINI_UNET, num_frames=cfg.frames)


def clip_config(cfg: Config) -> dict:
    return dict(MINI_IMAGE_ENCODER)


# -- data --------------------------------------------------------------------------------------


class Clips:
    """The clip tensor in memory, with SVD-style augmentation: a horizontal flip and playing the
    clip backwards keep its measured motion, so both are free."""

    def __init__(self, path: Path, cfg: Config, rng: np.random.Generator):
        data = np.load(path)
        self.frames, self.fps, self.bucket = data["frames"], data["fps"], data["bucket"]
        self.rng = rng
        held = rng.permutation(len(self.frames))
        self.eval_index, self.train_index = held[:cfg.eval_clips], held[cfg.eval_clips:]

    def batch(self, n: int, *, crop: int | None = None, frames: int | None = None, index=None):
        index = self.rng.choice(self.train_index, n) if index is None else index
        clips = self.frames[index].copy()
        for i in range(len(clips)):
            if self.rng.random() < 0.5:
                clips[i] = clips[i][:, :, ::-1]
            if self.rng.random() < 0.5:
                clips[i] = clips[i][::-1]
        if crop:
            y, x = self.rng.integers(0, clips.shape[2] - crop + 1, 2)
            clips = clips[:, :, y:y + crop, x:x + crop]
        if frames:
            start = int(self.rng.integers(0, clips.shape[1] - frames + 1))
            clips = clips[:, start:start + frames]
        video = torch.from_numpy(np.ascontiguousarray(clips)).float().div(127.5).sub(1.0)
        video = video.permute(0, 1, 4, 2, 3)  # B T C H W
        return video, torch.from_numpy(self.fps[index]).float(), \
            torch.from_numpy(self.bucket[index]).float()


def build_data(cfg: Config) -> None:
    """Every training clip (training/mini_data.py) into one file, with a summary of sources."""
    from mini_data import build_clips, save_clips

    clips = build_clips(size=cfg.size, frames=cfg.frames, seed=cfg.seed)
    save_clips(clips, OUT / "clips.npz")
    buckets = np.array([c.bucket for c in clips])
    log_line("data", dict(stage="data", clips=len(clips),
                          sources=sorted({c.source.split(":")[0] for c in clips}),
                          bucket_percentiles=np.percentile(buckets, [10, 50, 90]).tolist()))


# -- checkpoints and logs ----------------------------------------------------------------------


def save(path: Path, **state) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a cut-off save never replaces the last good checkpoint


def log_line(stage: str, record: dict) -> None:
    with open(OUT / f"{stage}_log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def lr_at(step: int, base: float, warmup: int) -> float:
    return base * min(1.0, (step + 1) / warmup)


# -- stage 1: the VAE --------------------------------------------------------------------------


def train_vae(cfg: Config, minutes: float, stage: str = "vae") -> None:
    """Stage "vae" trains the whole VAE. Stage "decoder" goes on training its decoder alone,
    the encoder frozen, so that it can run beside the UNet's training: the latent space is the
    encoder's, so the UNet never sees the decoder change."""
    from diffusers import AutoencoderKLTemporalDecoder

    torch.manual_seed(cfg.seed)
    vae = AutoencoderKLTemporalDecoder(**vae_config(cfg))
    step, rng_state, ckpt = 0, None, OUT / f"{stage}.pt"
    if stage == "decoder":
        vae.load_state_dict(torch.load(OUT / "vae.pt", weights_only=False)["model"])
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=cfg.vae_lr,
                            betas=(0.9, 0.99), weight_decay=0.0)
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, rng_state = state["step"], state["rng"]
        print(f"resumed the {stage} at step {step}")
    rng = np.random.default_rng(cfg.seed + step + (0 if stage == "vae" else 50_000))
    data = Clips(OUT / "clips.npz", cfg, np.random.default_rng(cfg.seed))
    data.rng = rng
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    start = last_save = time.time()
    vae.train()
    while time.time() - start < minutes * 60:
        video, _, _ = data.batch(cfg.vae_batch, crop=cfg.vae_crop, frames=cfg.vae_frames)
        x = video.flatten(0, 1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.vae_lr, cfg.warmup)
        posterior = vae.encode(x).latent_dist
        # The posterior's mean, as the pipeline encodes (`latent_dist.mode()`): with a KL weight
        # this small, sampling only adds noise that slows the start of training.
        recon = vae.decode(posterior.mode(), num_frames=cfg.vae_frames).sample
        l1 = (recon - x).abs().mean()
        mse = F.mse_loss(recon, x)
        # Colour at 1/8 of the size, weighted up: diffusers' VAE normalises in 32 groups, so
        # with 64-wide blocks a frame's colour passes the last norms only as differences
        # between the two channels of a group, which plain pixel losses teach slowly.
        colour = F.mse_loss(F.avg_pool2d(recon, 8), F.avg_pool2d(x, 8))
        kl = posterior.kl().mean() / x[0].numel()
        loss = l1 + mse + cfg.vae_colour * colour + cfg.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % cfg.log_every == 0:
            record = dict(stage=stage, step=step, loss=loss.item(), l1=l1.item(),
                          psnr=psnr(mse.item()), kl=kl.item(),
                          minutes=(time.time() - start) / 60)
            if step % (cfg.log_every * 4) == 0:
                record["eval_psnr"] = eval_vae(vae, data, cfg)
            log_line(stage, record)
        if time.time() - last_save > cfg.save_every_s:
            save(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step,
                 rng=torch.get_rng_state(), config=asdict(cfg))
            last_save = time.time()
    save(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step,
         rng=torch.get_rng_state(), config=asdict(cfg))
    log_line(stage, dict(stage=stage, step=step, eval_psnr=eval_vae(vae, data, cfg),
                         final=True))


def psnr(mse_in_unit_range: float) -> float:
    """PSNR in dB of frames in [-1, 1] (a range of 2)."""
    return 10 * math.log10(4.0 / max(mse_in_unit_range, 1e-12))


@torch.no_grad()
def eval_vae(vae, data: Clips, cfg: Config) -> float:
    """Reconstruction PSNR of the held-out clips, whole 64x64 frames, the pipeline's way
    (the posterior's mode)."""
    vae.eval()
    index = data.eval_index[:16]
    video = torch.from_numpy(data.frames[index]).float().div(127.5).sub(1.0)
    x = video.permute(0, 1, 4, 2, 3).flatten(0, 1)
    recon = vae.decode(vae.encode(x).latent_dist.mode(), num_frames=cfg.frames).sample
    vae.train()
    return psnr(F.mse_loss(recon.clamp(-1, 1), x).item())


# -- stage 2: the UNet -------------------------------------------------------------------------


def frozen_parts(cfg: Config):
    """The trained VAE and the image encoder (random, frozen, seeded: its embedding of the first
    frame is a fixed random projection of the picture that the UNet learns to read)."""
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    vae = AutoencoderKLTemporalDecoder(**vae_config(cfg))
    vae.load_state_dict(torch.load(OUT / "vae.pt", weights_only=False)["model"])
    torch.manual_seed(cfg.seed + 1)
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_config(cfg)))
    for module in (vae, clip):
        module.eval().requires_grad_(False)
    return vae, clip


def clip_embedding(clip, image: torch.Tensor) -> torch.Tensor:
    """The pipeline's `_encode_image` for images in [-1, 1]: an antialiased resize to 224, CLIP's
    normalisation, the projected embedding (B, 1, D)."""
    from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
        _resize_with_antialiasing,
    )

    image = _resize_with_antialiasing(image, (224, 224))
    image = (image + 1.0) / 2.0
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    return clip((image - mean) / std).image_embeds.unsqueeze(1)


def scaling_factor(vae, data: Clips, cfg: Config) -> float:
    """1 / the std of the latents, as SD's VAE's 0.18215 was chosen."""
    with torch.no_grad():
        video, _, _ = data.batch(32)
        z = vae.encode(video.flatten(0, 1)).latent_dist.mode()
    return float(1.0 / z.std())


def train_unet(cfg: Config, minutes: float) -> None:
    from diffusers import UNetSpatioTemporalConditionModel

    vae, clip = frozen_parts(cfg)
    torch.manual_seed(cfg.seed + 2)
    unet = UNetSpatioTemporalConditionModel(**unet_config(cfg))
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, betas=(0.9, 0.99),
                            weight_decay=0.01)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    step, scale = 0, None
    ckpt = OUT / "unet.pt"
    data = Clips(OUT / "clips.npz", cfg, np.random.default_rng(cfg.seed))
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        unet.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        ema, step, scale = state["ema"], state["step"], state["scaling_factor"]
        torch.set_rng_state(state["rng"])
        print(f"resumed the UNet at step {step}")
    data.rng = np.random.default_rng(cfg.seed + 10_000 + step)
    if scale is None:
        scale = scaling_factor(vae, data, cfg)
    start = last_save = time.time()
    unet.train()
    while time.time() - start < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg.unet_lr, cfg.warmup)
        loss = unet_loss(unet, vae, clip, data, cfg, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        step += 1
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay) if v.dtype.is_floating_point \
                    else ema[k].copy_(v)
        if step % cfg.log_every == 0:
            log_line("unet", dict(stage="unet", step=step, loss=loss.item(),
                                  minutes=(time.time() - start) / 60))
        if time.time() - last_save > cfg.save_every_s:
            save(ckpt, model=unet.state_dict(), opt=opt.state_dict(), ema=ema, step=step,
                 scaling_factor=scale, rng=torch.get_rng_state(), config=asdict(cfg))
            last_save = time.time()
    save(ckpt, model=unet.state_dict(), opt=opt.state_dict(), ema=ema, step=step,
         scaling_factor=scale, rng=torch.get_rng_state(), config=asdict(cfg))


def unet_loss(unet, vae, clip, data: Clips, cfg: Config, scale: float) -> torch.Tensor:
    video, fps, bucket = data.batch(cfg.unet_batch)
    b, t = video.shape[:2]
    with torch.no_grad():
        latents = vae.encode(video.flatten(0, 1)).latent_dist.mode().unflatten(0, (b, t)) * scale
        first = video[:, 0]
        # SVD's noise augmentation of the conditioning frame: mostly small, sometimes large
        aug = torch.exp(torch.randn(b) * 1.0 - 3.5).clamp(0, 1)
        aug = torch.where(torch.rand(b) < 0.5, torch.full_like(aug, 0.02), aug)
        cond = vae.encode(first + aug.view(b, 1, 1, 1) * torch.randn_like(first)
                          ).latent_dist.mode()  # unscaled, as the pipeline passes it
        embedding = clip_embedding(clip, first)
        keep = (torch.rand(b) >= cfg.cond_drop).float()
        cond = cond * keep.view(b, 1, 1, 1)
        embedding = embedding * keep.view(b, 1, 1)
    sigma = torch.exp(torch.randn(b) * cfg.p_std + cfg.p_mean).view(b, 1, 1, 1, 1)
    noisy = latents + sigma * torch.randn_like(latents)
    model_in = torch.cat([noisy / (sigma**2 + 1).sqrt(),
                          cond.unsqueeze(1).expand(-1, t, -1, -1, -1)], dim=2)
    time_ids = torch.stack([fps - 1, bucket, aug], dim=1)
    v = unet(model_in, 0.25 * sigma.log().flatten(), embedding, time_ids).sample
    denoised = v * (-sigma / (sigma**2 + 1).sqrt()) + noisy / (sigma**2 + 1)
    weight = (sigma**2 + 1) / sigma**2
    return (weight * (denoised - latents) ** 2).mean()


# -- export ------------------------------------------------------------------------------------


def export(cfg: Config, folder: Path, weights: str = "ema") -> Path:
    """The diffusers folder `StableVideoDiffusionPipeline.from_pretrained` opens: the VAE (its
    decoder from the decoder stage when there was one), the UNet's EMA weights, the image
    encoder, SVD's scheduler and feature extractor."""
    from diffusers import (
        AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor

    from svlab.models.svd_configs import SVD_FEATURE_EXTRACTOR, SVD_SCHEDULER

    vae, clip = frozen_parts(cfg)
    state = torch.load(OUT / "unet.pt", weights_only=False)
    vae_cfg = dict(vae_config(cfg), scaling_factor=state["scaling_factor"])
    vae_out = AutoencoderKLTemporalDecoder(**vae_cfg)
    decoder = OUT / "decoder.pt"  # the decoder trained on, when it was (same encoder)
    vae_out.load_state_dict(torch.load(decoder, weights_only=False)["model"] if decoder.exists()
                            else vae.state_dict())
    unet = UNetSpatioTemporalConditionModel(**unet_config(cfg))
    unet.load_state_dict(state["ema"] if weights == "ema" else state["model"])
    pipe = StableVideoDiffusionPipeline(
        vae=vae_out, image_encoder=clip, unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(SVD_SCHEDULER),
        feature_extractor=CLIPImageProcessor(**SVD_FEATURE_EXTRACTOR))
    # Stored in float16 to keep the repository small (30 MB at most); loaded, they are cast
    # to the dtype the run asks for (float32 on a CPU).
    pipe.to(torch.float16).save_pretrained(folder, safe_serialization=True)
    (folder / "training.json").write_text(json.dumps(
        dict(config=asdict(cfg), unet_steps=state["step"], unet_weights=weights,
             vae_steps=torch.load(OUT / "vae.pt", weights_only=False)["step"]), indent=1))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", choices=("data", "vae", "unet", "decoder", "export"),
                        required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="this sitting's budget")
    parser.add_argument("--out", type=Path, default=None, help="export: the folder to write")
    parser.add_argument("--weights", choices=("ema", "raw"), default="ema",
                        help="export: the UNet's moving average (default) or its last weights")
    parser.add_argument("--threads", type=int, default=Config.threads,
                        help="torch threads (1 for a stage run beside another)")
    args = parser.parse_args()
    cfg = Config(threads=args.threads)
    torch.set_num_threads(cfg.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.stage == "data":
        build_data(cfg)
    elif args.stage in ("vae", "decoder"):
        train_vae(cfg, args.minutes, args.stage)
    elif args.stage == "unet":
        train_unet(cfg, args.minutes)
    else:
        print(export(cfg, args.out or OUT / "mini", args.weights))


if __name__ == "__main__":
    main()

"""Memory per stage: measured on the device at hand (`StageTracker`) and predicted for any model
and setting without a GPU (`plan_memory`), and the fastest setting that fits a budget
(`recommend`). See docs/vram.md."""

from .measure import StageTracker

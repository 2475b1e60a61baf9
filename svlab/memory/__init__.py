"""Memory per stage: measured on the device at hand (`StageTracker`), predicted for any model
and setting without a GPU (`plan_memory`), and the fastest setting that fits a budget
(`recommend`). See docs/vram.md."""

from .measure import StageTracker
from .planner import parse_bytes, recommend, recommend_for
from .predict import STAGES, plan_memory

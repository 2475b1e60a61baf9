"""Memory per stage: measured on the device at hand (`StageTracker`), predicted for any model
and setting without a GPU (`plan_memory`), and the fastest setting that fits a budget
(`recommend`, `fit_to_vram`). See docs/vram.md."""

from svlab.memory.measure import StageTracker
from svlab.memory.planner import fit_to_vram, parse_bytes, recommend, recommend_for
from svlab.memory.predict import PlanSettings, plan_memory, plan_stages

__all__ = ["StageTracker", "fit_to_vram", "parse_bytes", "recommend", "recommend_for",
           "PlanSettings", "plan_memory", "plan_stages"]

"""Evaluation harnesses, apart from library code: measurements and experiments that score
what svlab makes (memory against the planner, interpolation on real footage, video metrics)."""

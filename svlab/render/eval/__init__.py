"""Evaluation harnesses, kept apart from the library code they measure: memory against the
planner (`memory`), interpolation on real footage (`footage`, `interpolation`), and metrics of
generated videos. Library code below this layer never imports them; benchmarks, notebooks,
sweeps and tests do."""

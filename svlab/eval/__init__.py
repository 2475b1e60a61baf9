"""Evaluation: measuring svlab's outputs on real data, kept apart from the library code that
makes them (the library never imports this package; benchmarks, notebooks and tests do)."""

"""The real photograph the encoding benchmarks film: one that ships inside an installed package
(matplotlib's sample data, in the notebooks extra), so nothing is downloaded or synthesised."""


def photograph():
    """The path of grace_hopper.jpg, or None when matplotlib is missing (then a text card)."""
    try:
        from matplotlib import cbook

        return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    except Exception:
        return None

"""The registry: every model family svlab runs, and every named model of each.

A family is one module (`svd.py`, `ltx.py`, `wan.py`, `cogvideox.py`, `ltx2.py`,
`hunyuanvideo15.py`) implementing `svlab.models.family.Family`; adding one means
writing that module and listing its `FAMILY` here. Listing specs imports no heavy library.
"""

from __future__ import annotations

from svlab.core.errors import ConfigError, unknown_choice
from svlab.models import cogvideox, hunyuanvideo15, ltx, ltx2, svd, wan
from svlab.models.family import Family, ModelSpec

FAMILIES: dict[str, Family] = {
    family.name: family for family in (svd.FAMILY, ltx.FAMILY, wan.FAMILY, cogvideox.FAMILY,
                                       ltx2.FAMILY, hunyuanvideo15.FAMILY)}
_SPECS: dict[str, ModelSpec] = {spec.id: spec for f in FAMILIES.values() for spec in f.specs}


def get_spec(name: str) -> ModelSpec:
    """The spec registered under `name`; ConfigError naming the known ids otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError(unknown_choice("model", name, _SPECS)) from None


def list_specs() -> list[ModelSpec]:
    """Every registered spec, in registration order."""
    return list(_SPECS.values())


def is_registered(name: str) -> bool:
    return name in _SPECS


def family_of(spec: ModelSpec) -> Family:
    """The family that builds and runs `spec`."""
    return FAMILIES[spec.family]


def family_by_pipeline(pipeline_class: str) -> Family | None:
    """The family whose diffusers pipeline class is `pipeline_class` (a checkpoint folder's
    model_index.json names it), or that loads folders saved as that class; or None."""
    return (next((f for f in FAMILIES.values() if f.pipeline_class == pipeline_class), None)
            or next((f for f in FAMILIES.values() if pipeline_class in f.also_loads), None))


def spec_by_hub_id(hub_id: str) -> ModelSpec | None:
    return next((s for s in _SPECS.values() if s.hub_id == hub_id), None)

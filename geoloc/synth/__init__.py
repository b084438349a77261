"""SynthWorld: deterministic, procedural, geotagged street-level scenes from real geography.

Public API: :func:`sample_locations`, :func:`generate_scene`, :func:`generate_dataset`,
:func:`location_attributes`, :data:`CUE_FAMILIES`. See docs/synthworld.md.
"""

from geoloc.synth.generate import generate_dataset, generate_scene
from geoloc.synth.locations import location_attributes, sample_locations
from geoloc.synth.scene import CUE_FAMILIES

__all__ = ["CUE_FAMILIES", "generate_dataset", "generate_scene", "location_attributes", "sample_locations"]

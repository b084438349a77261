"""The arena: a local GeoGuessr-shaped game server for testing the bot (see docs/arena.md).

Public API: :func:`serve` (start in a thread -> object with ``.url`` and ``.stop()``),
:class:`GameStore` and :class:`ArenaError` (the rules), :func:`load_map`,
:func:`synthworld_map`, :func:`manifest_map`, :func:`map_from_arrays` (the places).
"""

from bot.arena.game import ArenaError, GameStore
from bot.arena.maps import ArenaLocation, ArenaMap, load_map, manifest_map, map_from_arrays, synthworld_map
from bot.arena.server import ArenaServer, serve

__all__ = ["ArenaError", "ArenaLocation", "ArenaMap", "ArenaServer", "GameStore", "load_map", "manifest_map",
           "map_from_arrays", "serve", "synthworld_map"]

"""Land/sea mask on known points."""

from __future__ import annotations

import numpy as np
import pytest

from geoloc.errors import CoordinateError
from geoloc.geo.landsea import is_land, is_sea

LAND = [(48.8566, 2.3522), (-15.79, -47.88), (39.9, 116.4), (-25.0, 134.0), (72.0, -40.0), (-80.0, 0.0)]
SEA = [(0.0, -30.0), (30.0, -150.0), (-40.0, 80.0), (20.0, 65.0), (55.0, 3.0), (0.0, 0.0)]


def test_known_points():
    lat, lon = np.array(LAND + SEA).T
    got = is_land(lat, lon)
    assert got.dtype == bool and got.shape == (len(LAND) + len(SEA),)
    assert got[: len(LAND)].all()
    assert not got[len(LAND) :].any()
    np.testing.assert_array_equal(is_sea(lat, lon), ~got)


def test_scalar_and_invalid():
    assert bool(is_land(48.8566, 2.3522)) is True
    assert is_land(48.8566, 2.3522).shape == ()
    with pytest.raises(CoordinateError, match="row 2"):
        is_land([0, 0, 0], [0, 0, 200])

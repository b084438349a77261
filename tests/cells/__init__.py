"""Tests of geoloc.cells."""

"""GeoGuessr-style game bot (Selenium) and its local arena in ``bot.arena`` (issue 7)."""

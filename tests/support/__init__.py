"""Shared test helpers and fakes, imported as `tests.support.<module>` (tests/ is a package: no path tricks)."""

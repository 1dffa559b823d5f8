"""Two modules whose classes share names (`Item`, `Detail`), and a class named like one of the
OpenAPI document's own schemas (`Error`): for the tests of schema names."""

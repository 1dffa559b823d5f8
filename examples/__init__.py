"""Example actors shipped with Roost; `roost demo` loads `examples.counters`."""

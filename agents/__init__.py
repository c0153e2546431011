"""The faust worker: app, agents, tables, timers, and the pure domain rules."""

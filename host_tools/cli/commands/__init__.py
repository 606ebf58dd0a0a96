"""The handlers of the `ember` verbs, one module per group; the table in cli/table.py
names them. A handler takes a Context, prints its result and returns the exit code."""

"""Pushing files: wire protocol, plan, session (incremental, verified, atomic)."""

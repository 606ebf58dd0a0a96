"""Board farms through labgrid: places on a coordinator, a local farm of virtual boards."""

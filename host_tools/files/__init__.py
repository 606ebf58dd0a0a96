"""Files on a board: the library behind `ember fs` (ls, cat, cp, rm, df, ...)."""

"""Testing on boards: the pytest plugin, the Board object, transcripts."""

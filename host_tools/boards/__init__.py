"""Board profiles (load, validate) and detection of connected boards."""

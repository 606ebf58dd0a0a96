"""What goes onto a board: runtime, firmware builds and flashers, romfs, safe mode."""

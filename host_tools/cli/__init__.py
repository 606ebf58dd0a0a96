"""The `ember` command: the command table and main() (parse, call, print, exit code)."""

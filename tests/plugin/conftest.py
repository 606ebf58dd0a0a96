"""Plugin tests drive pytest itself through pytester, in subprocesses."""

pytest_plugins = ["pytester"]

"""Device-side test runner: runs one test function of a device test module."""

# Usage: micropython _runner.py PKG_DIR TEST_DIR MODULE FUNCTION
# PKG_DIR holds the ember package (firmware/, or a directory of .mpy files). Prints
# "ember-test: pass" on success; on failure prints the traceback and exits with 1.
import sys

pkg_dir, test_dir, module, func = sys.argv[1:5]
sys.path[:0] = [pkg_dir, test_dir]
try:
    getattr(__import__(module), func)()
except BaseException as e:  # a device test may raise anything
    sys.print_exception(e)
    print("ember-test: fail")
    sys.exit(1)
print("ember-test: pass")

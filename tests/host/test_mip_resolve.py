"""mip's resolution on the host: a package cannot name a file outside its target."""

from __future__ import annotations

import json

import pytest

from host_tools.errors import CommandError
from host_tools.install import mip


@pytest.mark.parametrize("target", ["/home/user/.bashrc", "../../escape.py", "a/../../b.py"])
def test_a_package_file_outside_the_target_is_refused_before_anything_is_written(
    target: str,
) -> None:
    files = {"pkg.json": json.dumps({"urls": [[target, "x.py"]]}).encode(), "x.py": b"X = 1\n"}

    def fetch(url: str) -> bytes:
        return files[url.rsplit("/", 1)[-1]]

    with pytest.raises(CommandError, match="outside its target"):
        mip.install(object(), ["pkg.json"], fetch=fetch)  # type: ignore[arg-type]


def test_github_urls_are_rewritten_as_mpremote_does() -> None:
    assert mip.rewrite_url("github:org/repo/pkg/package.json", None) == \
        "https://raw.githubusercontent.com/org/repo/HEAD/pkg/package.json"
    assert mip.rewrite_url("gitlab:o/r/x.py", "v1") == "https://gitlab.com/o/r/-/raw/v1/x.py"

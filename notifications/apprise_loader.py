"""Load Apprise's plugins once, quietly.

Apprise loads its plugins lazily on first use; its PGP helper imports the standard
library's ``imghdr`` (deprecated for removal in Python 3.13), which raises a
DeprecationWarning from third-party code. That one warning is ignored, narrowly, while
the plugins load; every other warning still surfaces.
"""

from __future__ import annotations

import functools
import warnings

import apprise


@functools.cache
def load_plugins() -> None:
    """Trigger Apprise's plugin loading with only the ``imghdr`` deprecation silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="'imghdr' is deprecated", category=DeprecationWarning
        )
        apprise.Apprise().add("json://localhost")

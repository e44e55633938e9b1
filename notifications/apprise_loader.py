"""Load Apprise's plugins once, quietly.

Apprise loads its plugins lazily on first use; its PGP helper imports the standard
library's ``imghdr`` (deprecated for removal in Python 3.13), which raises a
DeprecationWarning from third-party code. That one warning is ignored, narrowly, while
the plugins load; every other warning still surfaces.

Apprise itself is imported on first use here and in the modules that send or validate
(slow, and its plugins slower still): the compliance check's worker processes plan
alerts without ever loading it (the flow validates the recipients once, before).
"""

from __future__ import annotations

import functools
import warnings


@functools.cache
def load_plugins() -> None:
    """Trigger Apprise's plugin loading with only the ``imghdr`` deprecation silenced."""
    import apprise  # noqa: PLC0415 - on first use (see the module docstring)

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="'imghdr' is deprecated", category=DeprecationWarning
        )
        apprise.Apprise().add("json://localhost")

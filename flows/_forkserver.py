"""Imported first by the fork server of Vahti's worker processes (:mod:`flows.workers`).

Each worker forked from it runs the program's main module again, as ``__mp_main__``
(multiprocessing's rule). The fork server has already imported that module by name, so
the run again only defines its names, and runpy warns that the module is already
loaded. That is the intent here: the warning is silenced in the fork server and its
workers only.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")

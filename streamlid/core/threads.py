"""The model beside other threads: a process that scores windows in one thread while another is busy
(the server's event loop, the dashboard's rendering) must not let the busy one starve the model."""

from __future__ import annotations

import sys

# A model call releases the GIL in every torch op, hundreds of times a call, and beside a busy thread (an
# event loop, a dashboard) each time waits up to the interpreter's switch interval to get it back: at
# Python's 5 ms default a 2-s window's 72-ms CPU call took 1.45 s, and a 9-ms call on an H100 2.5 s
# (benchmarks/model_thread.py); at 0.1 ms they took 106 and 57 ms, and the busy thread still gets the GIL
# thousands of times a second.
MODEL_THREAD_SWITCH_S = 1e-4


def favour_model_thread() -> None:
    """Shorten the interpreter's GIL switch interval (never lengthen it), for a process that runs the model
    in one thread beside another busy one: the server's model thread, the dashboard's pipeline worker."""
    sys.setswitchinterval(min(sys.getswitchinterval(), MODEL_THREAD_SWITCH_S))

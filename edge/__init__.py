"""Tracking edge: the hot path that serves branded click redirects and open pixels.

``edge`` holds what both sides of the server share (configuration, host names, tokens, the
store, the in-memory domain table, event recording) and the tracking app itself. The
management API lives in ``admin``, which may import ``edge``; ``edge`` never imports ``admin``.
"""

__version__ = "0.1.0"

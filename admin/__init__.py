"""Management side of the tracking edge: the admin API, the CLI and the process entry point.

``admin`` may import ``edge``; ``edge`` never imports ``admin``.
"""

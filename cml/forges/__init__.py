"""Forge adapters and CI-environment detection.

:func:`open_forge` picks the adapter for a repository context; adapters are
imported only when a command needs one, so the CLI starts without PyGithub or
python-gitlab.
"""

"""The shell: the ``vahti`` command line and the one-command demo."""

"""How the flows are scheduled and run: ``serve`` on one machine, ``prefect.yaml`` for pools."""

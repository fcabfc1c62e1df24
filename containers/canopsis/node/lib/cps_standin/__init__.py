"""The Canopsis single-node stand-in: the command surfaces of reference canopsis.md §2 as small programs.

Laid out like ``/opt/canopsis``: ``bin/`` (one launcher per command), ``lib/cps_standin`` (this package),
``etc/`` (``canopsis.toml``, ``go-engines-vars.conf``, ``yum.repos.d/``), ``var/`` (state, logs, pids).
The same tree runs on the process backend (a directory) and in the ``upgrade-harness/canopsis`` image.
Engines and the API use pika (Debian ``python3-pika`` in the image): AMQP 0-9-1 is not written by hand.
"""

"""Demo family: the main job, ``interlingua demo``.

Runs every family on the offline model and the embedded parallel text, checks each
seed paper's qualitative finding against the numbers, and writes ``report.md``,
``results.json`` and the figures. The only family that drives the others (through
their public names).
"""

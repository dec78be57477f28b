"""The pure core: a conversation and a spec in, samples and per-turn accounting out; no I/O.

:mod:`~convsplit.core.layout` counts a conversation once, :mod:`~convsplit.core.windows`
chooses each sample's targets and history, :mod:`~convsplit.core.truncation` makes the
history fit, :mod:`~convsplit.core.builder` makes each sample, and
:mod:`~convsplit.core.split` puts them together (under one budget or several).
"""

"""One module per hypothesis: the logic behind each notebook, tested like the rest of the package.

Each module exposes ``run(**parameters) -> Analysis`` (validates its parameters first, raising
:class:`clusterstats.params.ParameterError` with a clear message) and ``figure_*`` functions that
draw from the ``Analysis`` tables in the house style. Notebooks call these and narrate.
"""

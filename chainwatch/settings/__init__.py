"""The configuration file's schema: pydantic-settings models that validate it at load.

``chainwatch.config.load_settings`` imports this package when it loads the settings (not
before: pydantic takes ~100 ms to import). ``model`` holds the models and the sources
(flag > environment > file > default), ``report`` the ``[report]`` table, ``fields`` the
shared field types (durations, secrets) and ``errors`` the translation of a validation
failure into one ``file:line`` message per problem.
"""

"""The store: SQLAlchemy 2.0 models, engines and migrations. Only this package writes SQL."""

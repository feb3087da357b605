"""``python -m chainwatch``: the same entry point as the ``chainwatch`` console script."""

from chainwatch.cli import main

if __name__ == "__main__":
    main()

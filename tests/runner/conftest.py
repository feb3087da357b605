"""The node tests' daemon fixtures (network namespace, free ports), shared with the runner."""

from tests.nodes.conftest import netns, ports  # noqa: F401 - re-exported pytest fixtures

"""``MSIM_PLUGINS=deck.msim_test_plugins`` (with ``tests/`` on PYTHONPATH): registers the test plugins
under the names still free in the global registries of that (subprocess) msim."""

from .fake_plugins import fill_gaps

fill_gaps()

"""mooncake: a drop-in for Mooncake Store's Python API (mooncake.store) over
this project's libmooncake_client. See docs/python.md."""
__version__ = "0.2.0"

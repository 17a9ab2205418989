"""streamlid: real-time spoken-language identification."""

__version__ = "0.1.0"

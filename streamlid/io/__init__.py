"""Audio in and events out on this machine: microphone and file sources, the sinks (JSON lines, the live
line), the terminal dashboard, and `identify()` over a whole recording."""

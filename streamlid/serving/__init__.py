"""The websocket service: the sans-I/O protocol, the asyncio server and its browser page (static/), the
client (`streamlid send`) and the Ray Serve deployment."""

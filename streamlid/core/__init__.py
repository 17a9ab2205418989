"""The sans-I/O core: the stream (windows, VAD, smoothing, the decision), its events and their schema, the
language names, and the audio path's pieces. No torch, no sockets, no devices: it runs on any Scorer."""

"""Measuring a model: window accuracy and calibration (`streamlid evaluate`), the metrics and the report,
the Whisper peer, synthetic conversations, the non-speech test set (nonspeech_clips/) and `streamlid bench`."""

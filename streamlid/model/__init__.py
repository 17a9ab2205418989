"""The models: the Whisper-based and older architectures, calibration, int8 storage, the checkpoint format,
the feature front ends and batched inference (Classifier). checkpoint.py names the shipped models
without loading torch."""

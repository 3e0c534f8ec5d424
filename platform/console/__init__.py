"""The operator console (SPEC §9): server-rendered pages on the same services as the dialects."""

"""The devices app's writes, one module per concern: fields, plugs, enrollment, v3 management."""

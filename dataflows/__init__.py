"""Bytewax dataflow definitions: thin wiring of pulse's sources, steps and sinks."""

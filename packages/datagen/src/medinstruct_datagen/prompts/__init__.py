"""Prompt templates (package data), read with importlib.resources by `medinstruct_datagen.prompting`."""

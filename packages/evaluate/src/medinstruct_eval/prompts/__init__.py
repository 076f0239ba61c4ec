"""Judge prompt templates (package data), read with importlib.resources by `medinstruct_eval.judge`."""
